//  tg_error.c - OpenAI error objects.
#include "tg_error.h"
#include "tg_util.h"

#include <jansson.h>
#include <stdlib.h>

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
