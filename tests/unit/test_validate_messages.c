//  test_validate_messages.c - tg_validate_messages: POST /v1/messages bodies.
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_util.h"
#include "tg_validate.h"

//  Runs the check on a body; returns the message (caller frees) or NULL when accepted.
static char *
s_check(const char *text, char **param_p)
{
    json_t *body = json_loads(text, JSON_DECODE_ANY, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(body);
    char *msg = NULL, *param = NULL;
    int rc = tg_validate_messages(body, &msg, &param);
    json_decref(body);
    CU_ASSERT_EQUAL(rc, msg ? TG_INVALID : TG_OK);
    if (param_p)
        *param_p = param;
    else
        free(param);
    return msg;
}

static void
test_accepted(void)
{
    const char *const good[] = {
        "{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"model\":\"m\",\"max_tokens\":9,\"system\":\"s\",\"stream\":true,\"temperature\":1,"
        "\"top_p\":0.5,\"top_k\":3,\"stop_sequences\":[\"x\"],\"metadata\":{\"user_id\":\"u\"},"
        "\"tools\":[{\"name\":\"f\",\"input_schema\":{}}],\"tool_choice\":{\"type\":\"auto\"},"
        "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
        "{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":\"u\"}}]},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"t\"},"
        "{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t\","
        "\"content\":\"r\"}]}]}",
        "{\"model\":\"m\",\"max_tokens\":1,\"system\":[{\"type\":\"text\",\"text\":\"s\"}],"
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":null}",
    };
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        char *msg = s_check(good[k], NULL);
        if (msg)
            fprintf(stderr, "\nrefused case %zu: %s\n", k, msg);
        CU_ASSERT_PTR_NULL(msg);
        free(msg);
    }
}

static void
test_refused(void)
{
    const struct {
        const char *body;   //  request body
        const char *param;  //  offending field
        const char *msg;    //  whole message
    } bad[] = {
        {"[]", "body", "body: Input should be a valid dictionary"},
        {"{\"max_tokens\":1,\"messages\":[]}", "model", "model: Field required"},
        {"{\"model\":\"\",\"max_tokens\":1}", "model", "model: Input should be a non-empty string"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "max_tokens",
         "max_tokens: Field required"},
        {"{\"model\":\"m\",\"max_tokens\":0}", "max_tokens",
         "max_tokens: Input should be greater than or equal to 1"},
        {"{\"model\":\"m\",\"max_tokens\":1.5}", "max_tokens",
         "max_tokens: Input should be a valid integer"},
        {"{\"model\":\"m\",\"max_tokens\":1}", "messages", "messages: Field required"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"messages\":[]}", "messages",
         "messages: List should have at least 1 item"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]"
         "}",
         "messages.0.role", "messages.0.role: Input should be 'user' or 'assistant'"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\"}]}",
         "messages.0.content", "messages.0.content: Field required"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":[{"
         "\"type\":"
         "\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}]}]}",
         "messages.0.content.0.type", NULL},
        {"{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":[{"
         "\"type\":"
         "\"text\"}]}]}",
         "messages.0.content.0.text", "messages.0.content.0.text: Input should be a valid string"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"system\":[{\"type\":\"image\"}],\"messages\":[{"
         "\"role\":"
         "\"user\",\"content\":\"x\"}]}",
         "system.0.type", "system.0.type: Input should be 'text'"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"temperature\":1.5,\"messages\":[{\"role\":\"user\","
         "\"content\":\"x\"}]}",
         "temperature", "temperature: Input should be between 0 and 1"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"stream\":\"yes\",\"messages\":[{\"role\":\"user\","
         "\"content\":\"x\"}]}",
         "stream", "stream: Input should be a valid boolean"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"stop_sequences\":[1],\"messages\":[{\"role\":"
         "\"user\",\"content\":\"x\"}]}",
         "stop_sequences.0", "stop_sequences.0: Input should be a valid string"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"tools\":[{}],\"messages\":[{\"role\":\"user\","
         "\"content\":\"x\"}]}",
         "tools.0.name", "tools.0.name: Field required"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"tool_choice\":\"auto\",\"messages\":[{\"role\":"
         "\"user\",\"content\":\"x\"}]}",
         "tool_choice", NULL},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char *param = NULL;
        char *msg = s_check(bad[k].body, &param);
        CU_ASSERT_PTR_NOT_NULL(msg);
        CU_ASSERT_PTR_NOT_NULL(param);
        if (msg && param) {
            if (strcmp(param, bad[k].param) != 0 || (bad[k].msg && strcmp(msg, bad[k].msg) != 0)) {
                fprintf(stderr, "\ncase %zu: param=%s msg=%s\n", k, param, msg);
                CU_FAIL("wrong message or param");
            }
        }
        free(msg);
        free(param);
    }
}

void
test_validate_messages_register(void)
{
    CU_pSuite s = CU_add_suite("validate_messages", NULL, NULL);
    CU_add_test(s, "accepted bodies", test_accepted);
    CU_add_test(s, "refused bodies: field and message", test_refused);
}
