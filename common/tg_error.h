//  tg_error.h - OpenAI error objects: {"error":{"message","type","param","code"}}, and the
//  Anthropic form of the same errors for /v1/messages: {"type":"error","error":{"type","message"}}.
#ifndef TG_ERROR_H
#define TG_ERROR_H

#include <stddef.h>

//  Returns the JSON text of an OpenAI error object; type NULL picks the usual type for
//  `status`; param and code may be NULL (null in JSON). Caller frees.
char *tg_error_body(
    int status, const char *message, const char *type, const char *param, const char *code);
//  The OpenAI error type usually paired with an HTTP status ("invalid_request_error", ...).
const char *tg_error_type(int status);
//  The Anthropic error type of an HTTP status ("invalid_request_error", "not_found_error",
//  "rate_limit_error", "api_error", "overloaded_error" ...).
const char *tg_error_anthropic_type(int status);
//  Any error body (OpenAI's, Anthropic's, other, empty) with its HTTP status as the JSON text
//  of an Anthropic error object: an Anthropic body is returned as is, an OpenAI one keeps its
//  message, the type follows the status. Caller frees.
char *tg_error_anthropic(int status, const char *body, size_t len);

#endif
