//  tg_validate.h - checks of OpenAI request bodies before they are routed (spec G3).
//
//  Each check returns TG_OK, or TG_INVALID with *msg_p set to a message for the client and
//  *param_p to the offending field's path ("messages[1].role") or NULL when no single field
//  is at fault. On TG_INVALID the caller frees both; on TG_OK both are left NULL.
#ifndef TG_VALIDATE_H
#define TG_VALIDATE_H

#include <jansson.h>

//  Most entries accepted in an embeddings `input` array (OpenAI's limit).
#define TG_VALIDATE_MAX_INPUTS 2048

//  POST /v1/chat/completions: model (string, optional: the router may apply an agent
//  default), messages (non-empty array of {role, content}), stream, stream_options,
//  sampling parameters and their bounds.
int tg_validate_chat(const json_t *body, char **msg_p, char **param_p);
//  POST /v1/embeddings: model (optional), input (non-empty string, array of strings, array
//  of token ids or array of token id arrays), encoding_format, dimensions, user.
int tg_validate_embeddings(const json_t *body, char **msg_p, char **param_p);
//  POST /v1/messages (Anthropic Messages API), with Anthropic-style messages ("max_tokens:
//  Field required") and dotted paths ("messages.1.content"): model (required), max_tokens
//  (required, >= 1), messages (non-empty array of {role: user|assistant, content: string or
//  array of typed blocks}), system (string or text blocks), stream, temperature (0..1),
//  top_p, top_k, stop_sequences, tools, tool_choice, metadata. (tg_validate_messages.c)
int tg_validate_messages(const json_t *body, char **msg_p, char **param_p);
//  The JSON type name used in messages: "a string", "an integer", "null", ...
const char *tg_validate_type_name(const json_t *value);

#endif
