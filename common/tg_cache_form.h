//  tg_cache_form.h - a cached chat answer in the form the client asks for (spec C1).
//
//  The cache keeps an answer as its client got it: a chat.completion JSON body, or the SSE
//  bytes of a stream of chat.completion.chunk events. A hit may ask for the other form, or
//  for the same stream with or without the usage chunk. These pure functions convert; they
//  never see the network or the cache. Every output is owned by the caller (free), and the
//  input is never trusted: bytes that are not what they claim give TG_INVALID.
#ifndef TG_CACHE_FORM_H
#define TG_CACHE_FORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tg_cache.h"

//  Assembles the chat.completion an SSE stream of chat.completion.chunk events describes:
//  same id, created, model, system_fingerprint; per choice index the concatenated
//  delta.content (and refusal), the tool_calls assembled by index (id, type, function name,
//  arguments concatenated), role, finish_reason, logprobs content concatenated; usage from
//  the usage chunk, or {prompt_tokens: tok_in, completion_tokens: tok_out, total} when the
//  stream had none. message.content is null when there is no text and there are tool calls
//  or a refusal; message.refusal is there when the stream had one (even null). Lines may
//  end in \n, \r\n or \r; comments, event names and ids are ignored, and so is whatever
//  follows [DONE]. TG_OK with *json_p / *len_p (NUL-terminated), or TG_INVALID: no chunk, a
//  data event that is not a chunk object with a choices array, a delta of the wrong shape,
//  more than 128 choices or 1024 tool calls per choice.
int tg_cache_form_sse_to_json(
    const char *sse, size_t len, uint64_t tok_in, uint64_t tok_out, char **json_p, size_t *len_p);

//  The stream an OpenAI client would have got for a chat.completion: per choice a first
//  chunk with the role, a chunk with the whole content, one per tool call, and a chunk with
//  the finish_reason; then, when include_usage, a chunk with empty choices and the usage;
//  then "data: [DONE]". Each event is "data: <compact json>\n\n"; the chunks carry the
//  completion's id, created, model and system_fingerprint, object
//  "chat.completion.chunk"; with include_usage every chunk but the last has "usage":null,
//  and a completion without usage gets no usage chunk. Logprobs ride on the content chunk.
//  TG_OK with *sse_p / *len_p, or TG_INVALID (not a chat.completion).
int tg_cache_form_json_to_sse(
    const char *json, size_t len, bool include_usage, char **sse_p, size_t *len_p);

//  A stored stream as a client asking include_usage (or not) gets it: with include_usage
//  the usage chunk is kept, or added before [DONE] from tok_in / tok_out when the stream had
//  none; without, a chunk carrying only usage is dropped and `"usage":null` members are left
//  as they are (clients ignore them). The other events pass byte for byte. Cheap: only a
//  chunk whose "usage" holds an object is parsed (and the first chunk, when a usage chunk
//  is added); other data events need only look like a JSON object. TG_OK with *out_p /
//  *len_p, or TG_INVALID: no chunk, or a data event neither [DONE] nor object-like.
int tg_cache_form_sse_replay(const char *sse,
                             size_t len,
                             bool include_usage,
                             uint64_t tok_in,
                             uint64_t tok_out,
                             char **out_p,
                             size_t *len_p);

//  A cache entry's answer in the form asked for (stream or not, usage chunk or not), by the
//  conversions above; a JSON entry asked as JSON is copied as is. TG_OK with *out_p /
//  *len_p (owned), or TG_INVALID when the stored bytes cannot be converted.
int tg_cache_form_answer(
    const tg_cache_entry_t *entry, bool stream, bool include_usage, char **out_p, size_t *len_p);

#endif
