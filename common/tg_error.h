//  tg_error.h - OpenAI error objects: {"error":{"message","type","param","code"}}.
#ifndef TG_ERROR_H
#define TG_ERROR_H

//  Returns the JSON text of an OpenAI error object; type NULL picks the usual type for
//  `status`; param and code may be NULL (null in JSON). Caller frees.
char *tg_error_body(
    int status, const char *message, const char *type, const char *param, const char *code);
//  The OpenAI error type usually paired with an HTTP status ("invalid_request_error", ...).
const char *tg_error_type(int status);

#endif
