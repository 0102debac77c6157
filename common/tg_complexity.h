//  tg_complexity.h - prompt complexity for model "auto" (spec G5): simple, medium or complex.
//
//  One pass over the bytes, no allocation, no regex: a few counters (words, lines, list
//  items, code fences and code punctuation, questions) and a keyword table looked up once
//  per word by a hash computed while scanning. The rule is in docs/configuration.md.
#ifndef TG_COMPLEXITY_H
#define TG_COMPLEXITY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    TG_COMPLEXITY_SIMPLE = 0,
    TG_COMPLEXITY_MEDIUM = 1,
    TG_COMPLEXITY_COMPLEX = 2,
} tg_complexity_class_t;

#define TG_COMPLEXITY_WORD_MAX 16  //  longer words are counted but not looked up

//  Scanning state: zero it with tg_complexity_init, feed text, then ask for the class.
typedef struct {
    uint32_t bytes;       //  bytes fed
    uint32_t words;       //  words (runs of letters, digits, '-', '_', '\'', UTF-8)
    uint32_t lines;       //  newlines
    uint32_t items;       //  lines that start with "- ", "* " or "1. " / "1) "
    uint32_t fences;      //  runs of 3+ backticks
    uint32_t code_chars;  //  { } ; = < > [ ] outside words
    uint32_t questions;   //  '?'
    uint32_t kw[8];       //  keywords seen, by kind (tg_complexity.c's K_*)
} tg_complexity_t;

//  Resets the state.
void tg_complexity_init(tg_complexity_t *self);
//  Scans `len` bytes of text (any bytes; UTF-8 counts as letters). Calls may be chained
//  (one per message): each text starts a line and ends a word.
void tg_complexity_feed(tg_complexity_t *self, const char *text, size_t len);
//  Points of the text fed so far (the class is a threshold on them).
int tg_complexity_points(const tg_complexity_t *self);
//  The class of the text fed so far.
tg_complexity_class_t tg_complexity_class(const tg_complexity_t *self);

//  Class of one text.
tg_complexity_class_t tg_complexity_of(const char *text, size_t len);
//  Class of a chat request's `messages` (borrowed): the text of the user messages (string
//  content, or the "text" of content parts). A request without user text is simple.
tg_complexity_class_t tg_complexity_of_messages(const json_t *messages);

//  "simple" | "medium" | "complex" (static).
const char *tg_complexity_name(tg_complexity_class_t cls);
//  The class named `name`, or -1 for NULL or an unknown name.
int tg_complexity_parse(const char *name);

#endif
