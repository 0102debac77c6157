//  tg_error.c - OpenAI error objects.
#include "tg_error.h"
#include "tg_util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
tg_error_type(int status)
{
    switch (status) {
    case 401:
        return "invalid_request_error";
    case 403:
        return "permission_error";
    case 404:
        return "invalid_request_error";
    case 429:
        return "rate_limit_error";
    case 502:
    case 504:
        return "upstream_error";
    case 503:
        return "service_unavailable";
    default:
        return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

char *
tg_error_body(
    int status, const char *message, const char *type, const char *param, const char *code)
{
    json_t *err = json_object();
    json_object_set_new(err, "message", json_string(message ? message : "error"));
    json_object_set_new(err, "type", json_string(type ? type : tg_error_type(status)));
    json_object_set_new(err, "param", param ? json_string(param) : json_null());
    json_object_set_new(err, "code", code ? json_string(code) : json_null());
    json_t *root = json_pack("{so}", "error", err);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text)  //  only if message was not valid UTF-8
        text = tg_strdup("{\"error\":{\"message\":\"error\",\"type\":\"server_error\","
                         "\"param\":null,\"code\":null}}");
    return text;
}

const char *
tg_error_anthropic_type(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 402:
        return "billing_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 503:
    case 529:
        return "overloaded_error";
    case 504:
        return "timeout_error";
    default:
        return status >= 500 || status < 400 ? "api_error" : "invalid_request_error";
    }
}

char *
tg_error_anthropic(int status, const char *body, size_t len)
{
    json_t *doc = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *err = json_is_object(doc) ? json_object_get(doc, "error") : NULL;
    const char *type = json_string_value(json_object_get(doc, "type"));
    if (type && strcmp(type, "error") == 0 && json_is_object(err)
        && json_is_string(json_object_get(err, "type"))) {
        json_decref(doc);
        return tg_strndup(body, len);  //  already Anthropic's form
    }
    const char *message = json_string_value(json_object_get(err, "message"));
    if (!message && json_is_string(err))
        message = json_string_value(err);
    char fallback[80];
    if (!message || !*message) {
        snprintf(fallback, sizeof fallback, "upstream returned HTTP %d", status);
        message = fallback;
    }
    json_t *root = json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type",
                             tg_error_anthropic_type(status), "message", message);
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    json_decref(doc);
    if (!text)
        text = tg_strdup("{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":"
                         "\"error\"}}");
    return text;
}
