//  tg_complexity.c - one-pass prompt complexity scoring (rule in docs/configuration.md).
#include "tg_complexity.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

//  Byte flags in s_class.
enum { F_WORD = 1, F_NL = 2, F_CODE = 4, F_QUESTION = 8, F_TICK = 16 };

//  Keyword kinds (index of tg_complexity_t.kw).
enum { K_NONE, K_COMPLEX, K_MEDIUM, K_SIMPLE, K_BRIEF, K_STEP, K_CODE };

typedef struct {
    const char *word;  //  lower case, at most TG_COMPLEXITY_WORD_MAX bytes
    int kind;          //  K_*
} s_keyword_t;

#define S_SLOTS 2048  //  keyword hash table (power of two, about 6 % full)

//  Words that say what kind of task a prompt is. Kept short: each one was checked against
//  the corpus (tests/data/complexity_corpus.jsonl).
static const s_keyword_t s_keywords[] = {
    //  complex: design, analysis and build-a-system work
    {"design", K_COMPLEX},
    {"architecture", K_COMPLEX},
    {"architect", K_COMPLEX},
    {"distributed", K_COMPLEX},
    {"scalable", K_COMPLEX},
    {"scale", K_COMPLEX},
    {"microservices", K_COMPLEX},
    {"trade-offs", K_COMPLEX},
    {"tradeoffs", K_COMPLEX},
    {"analyze", K_COMPLEX},
    {"analyse", K_COMPLEX},
    {"comprehensive", K_COMPLEX},
    {"implement", K_COMPLEX},
    {"implementation", K_COMPLEX},
    {"concurrency", K_COMPLEX},
    {"concurrent", K_COMPLEX},
    {"thread-safe", K_COMPLEX},
    {"prove", K_COMPLEX},
    {"derive", K_COMPLEX},
    {"migration", K_COMPLEX},
    {"strategy", K_COMPLEX},
    {"strategies", K_COMPLEX},
    {"evaluate", K_COMPLEX},
    {"threat", K_COMPLEX},
    {"consistency", K_COMPLEX},
    {"in-depth", K_COMPLEX},
    {"depth", K_COMPLEX},
    {"requirements", K_COMPLEX},
    {"systematic", K_COMPLEX},
    {"pipeline", K_COMPLEX},
    {"prioritize", K_COMPLEX},
    {"roadmap", K_COMPLEX},
    {"rollback", K_COMPLEX},
    {"generalize", K_COMPLEX},
    {"research", K_COMPLEX},
    {"latency", K_COMPLEX},
    {"throughput", K_COMPLEX},
    {"rigorous", K_COMPLEX},
    {"refactor", K_COMPLEX},
    //  medium: write, explain, transform
    {"write", K_MEDIUM},
    {"explain", K_MEDIUM},
    {"function", K_MEDIUM},
    {"script", K_MEDIUM},
    {"example", K_MEDIUM},
    {"summarize", K_MEDIUM},
    {"summarise", K_MEDIUM},
    {"debug", K_MEDIUM},
    {"fix", K_MEDIUM},
    {"compare", K_MEDIUM},
    {"difference", K_MEDIUM},
    {"pros", K_MEDIUM},
    {"cons", K_MEDIUM},
    {"draft", K_MEDIUM},
    {"review", K_MEDIUM},
    {"create", K_MEDIUM},
    {"describe", K_MEDIUM},
    {"query", K_MEDIUM},
    {"test", K_MEDIUM},
    {"plan", K_MEDIUM},
    {"differences", K_MEDIUM},
    {"list", K_MEDIUM},
    {"erkläre", K_MEDIUM},
    {"explique", K_MEDIUM},
    {"why", K_MEDIUM},
    {"work", K_MEDIUM},
    {"works", K_MEDIUM},
    {"description", K_MEDIUM},
    {"show", K_MEDIUM},
    {"setup", K_MEDIUM},
    {"component", K_MEDIUM},
    {"class", K_MEDIUM},
    //  simple: look-ups, definitions, chit-chat
    {"what", K_SIMPLE},
    {"who", K_SIMPLE},
    {"when", K_SIMPLE},
    {"where", K_SIMPLE},
    {"define", K_SIMPLE},
    {"capital", K_SIMPLE},
    {"mean", K_SIMPLE},
    {"hi", K_SIMPLE},
    {"hello", K_SIMPLE},
    {"thanks", K_SIMPLE},
    {"name", K_SIMPLE},
    //  asks for a brief answer
    {"briefly", K_BRIEF},
    {"short", K_BRIEF},
    {"sentence", K_BRIEF},
    {"quick", K_BRIEF},
    {"line", K_BRIEF},
    {"one-line", K_BRIEF},
    {"one-word", K_BRIEF},
    //  multi-step markers
    {"first", K_STEP},
    {"then", K_STEP},
    {"next", K_STEP},
    {"finally", K_STEP},
    {"also", K_STEP},
    {"additionally", K_STEP},
    {"step", K_STEP},
    {"steps", K_STEP},
    {"each", K_STEP},
    {"include", K_STEP},
    {"including", K_STEP},
    //  code
    {"def", K_CODE},
    {"return", K_CODE},
    {"class", K_CODE},
    {"import", K_CODE},
    {"select", K_CODE},
    {"const", K_CODE},
    {"var", K_CODE},
    {"int", K_CODE},
    {"void", K_CODE},
    {"struct", K_CODE},
    {"public", K_CODE},
    {"for", K_CODE},
};

//  A keyword as the scanner sees a word: its first 16 bytes, ASCII lower-cased by OR 0x20
//  (word bytes are letters, digits, '-', '_', '\'' and UTF-8, which that maps one to one
//  except for pathological pairs), as two masked 64-bit loads.
typedef struct {
    uint64_t a, b;  //  bytes 0-7 and 8-15, masked to len
    uint8_t len;    //  0 = empty slot
    uint8_t kind;   //  K_*
} s_slot_t;

static uint8_t s_class[256];      //  byte -> F_*
static uint64_t s_mask[17][2];    //  word length -> masks of its two 8-byte halves
static s_slot_t s_slot[S_SLOTS];  //  the keyword table
static uint64_t s_pre[1024];      //  filter: bit set if some keyword has this pair-and-length
static uint16_t s_tag[S_SLOTS];   //  hash tags of its slots (0 = empty): a miss reads only these
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

//  Filter index of a word from its first two bytes (folded) and its length.
static inline uint32_t
s_pre_of(const uint8_t *w, size_t len)
{
    uint32_t pair = (uint32_t)((w[0] | 0x20) | (w[1] | 0x20) << 8);
    return ((pair | (uint32_t)len << 16) * 0x9E3779B1u) >> 16;
}

static uint64_t
s_hash(uint64_t a, uint64_t b, size_t len)
{
    return (a ^ (b << 29 | b >> 35) ^ len) * 0x9E3779B97F4A7C15ULL;  //  one multiply
}

//  The folded, masked halves of the word at p (len <= 16 bytes; the 16 bytes at p readable).
static void
s_halves(const uint8_t *p, size_t len, uint64_t *a, uint64_t *b)
{
    uint64_t x, y;
    memcpy(&x, p, 8);
    memcpy(&y, p + 8, 8);
    *a = (x | 0x2020202020202020ULL) & s_mask[len][0];
    *b = (y | 0x2020202020202020ULL) & s_mask[len][1];
}

static void
s_init_tables(void)
{
    for (int c = 0; c < 256; c++) {
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        int f = alnum || c >= 0x80 || c == '-' || c == '_' || c == '\'' ? F_WORD : 0;
        if (c == '\n')
            f |= F_NL;
        if (c == '?')
            f |= F_QUESTION;
        if (c == '`')
            f |= F_TICK;
        if (strchr("{};=<>[]", c) && c)
            f |= F_CODE;
        s_class[c] = (uint8_t)f;
    }
    for (int n = 0; n <= 16; n++) {
        s_mask[n][0] = n >= 8 ? ~0ULL : (1ULL << (8 * n)) - 1;
        s_mask[n][1] = n >= 16 ? ~0ULL : n <= 8 ? 0 : (1ULL << (8 * (n - 8))) - 1;
    }
    for (size_t i = 0; i < sizeof s_keywords / sizeof s_keywords[0]; i++) {
        uint8_t buf[16] = {0};
        size_t len = strlen(s_keywords[i].word);
        assert(len >= 2 && len <= TG_COMPLEXITY_WORD_MAX);
        memcpy(buf, s_keywords[i].word, len);
        uint64_t a, b;
        s_halves(buf, len, &a, &b);
        uint32_t pre = s_pre_of(buf, len);
        s_pre[pre >> 6] |= 1ULL << (pre & 63);
        uint64_t hash = s_hash(a, b, len);
        size_t h = (size_t)(hash >> 53);
        while (s_tag[h] && !(s_slot[h].a == a && s_slot[h].b == b && s_slot[h].len == len))
            h = (h + 1) & (S_SLOTS - 1);
        if (!s_tag[h]) {  //  a word listed twice keeps its first kind
            s_tag[h] = (uint16_t)(hash | 1);
            s_slot[h] = (s_slot_t){
                .a = a, .b = b, .len = (uint8_t)len, .kind = (uint8_t)s_keywords[i].kind};
        }
    }
}

void
tg_complexity_init(tg_complexity_t *self)
{
    pthread_once(&s_once, s_init_tables);
    memset(self, 0, sizeof *self);
}

//  Counts the word [from, to) of text (text_len bytes) and its keyword kind, if any.
static inline void
s_word(tg_complexity_t *self, const uint8_t *text, size_t text_len, size_t from, size_t to)
{
    self->words++;
    size_t len = to - from;
    if (len < 2 || len > TG_COMPLEXITY_WORD_MAX)  //  every keyword has 2 to 16 bytes
        return;
    const uint8_t *w = text + from;
    uint32_t pre = s_pre_of(w, len);
    if (!(s_pre[pre >> 6] >> (pre & 63) & 1))  //  most words stop here
        return;
    uint8_t tail[16];
    if (from + 16 > text_len) {  //  near the end of the text: do not read past it
        memset(tail, 0, sizeof tail);
        memcpy(tail, w, len);
        w = tail;
    }
    uint64_t a, b;
    s_halves(w, len, &a, &b);
    uint64_t hash = s_hash(a, b, len);
    uint16_t tag = (uint16_t)(hash | 1);
    for (size_t h = (size_t)(hash >> 53); s_tag[h]; h = (h + 1) & (S_SLOTS - 1))
        if (s_tag[h] == tag && s_slot[h].a == a && s_slot[h].b == b && s_slot[h].len == len) {
            self->kw[s_slot[h].kind]++;
            return;
        }
}

//  A list item at `p` (the start of a line): blanks, then "-", "*" or digits + "." / ")",
//  then a space.
static bool
s_is_item(const uint8_t *p, const uint8_t *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p < end && (*p == '-' || *p == '*'))
        p++;
    else {
        const uint8_t *digits = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == digits || p == end || (*p != '.' && *p != ')'))
            return false;
        p++;
    }
    return p < end && *p == ' ';
}

//  Bit masks of one 64-byte block: bit i describes byte i.
typedef struct {
    uint64_t word;   //  word bytes: letters, digits, '-', '_', '\'', bytes >= 0x80
    uint64_t code;   //  { } [ ] ; < = >
    uint64_t nl;     //  '\n'
    uint64_t quest;  //  '?'
    uint64_t tick;   //  '`'
} s_masks_t;

#if defined(__SSE2__)
//  Bytes of v in [lo, lo + span] (unsigned), as a vector of 0xff / 0x00.
static inline __m128i
s_in_range(__m128i v, uint8_t lo, uint8_t span)
{
    __m128i d = _mm_sub_epi8(v, _mm_set1_epi8((char)lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8((char)span)), d);
}

static inline void
s_block(const uint8_t *p, s_masks_t *m)
{
    memset(m, 0, sizeof *m);
    for (int j = 0; j < 4; j++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * j));
        __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
        __m128i word = _mm_or_si128(s_in_range(lower, 'a', 25), s_in_range(v, '0', 9));
        word = _mm_or_si128(word, _mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
        word = _mm_or_si128(word, _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
        word = _mm_or_si128(word, _mm_cmpeq_epi8(v, _mm_set1_epi8('\'')));
        //  { } and [ ] are 0x7b 0x7d and 0x5b 0x5d; ; < = > are 0x3b to 0x3e
        __m128i code = _mm_or_si128(_mm_cmpeq_epi8(lower, _mm_set1_epi8(0x7b)),
                                    _mm_cmpeq_epi8(lower, _mm_set1_epi8(0x7d)));
        code = _mm_or_si128(code, s_in_range(v, 0x3b, 3));
        int shift = 16 * j;
        m->word |= (uint64_t)(uint32_t)(_mm_movemask_epi8(word) | _mm_movemask_epi8(v)) << shift;
        m->code |= (uint64_t)(uint32_t)_mm_movemask_epi8(code) << shift;
        m->nl |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')))
                 << shift;
        m->quest |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('?')))
                    << shift;
        m->tick |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('`')))
                   << shift;
    }
}
#else
static inline void
s_block(const uint8_t *p, s_masks_t *m)
{
    memset(m, 0, sizeof *m);
    for (int i = 0; i < 64; i++) {
        uint64_t k = s_class[p[i]], bit = 1ULL << i;
        m->word |= (k & F_WORD) ? bit : 0;
        m->code |= (k & F_CODE) ? bit : 0;
        m->nl |= (k & F_NL) ? bit : 0;
        m->quest |= (k & F_QUESTION) ? bit : 0;
        m->tick |= (k & F_TICK) ? bit : 0;
    }
}
#endif

//  64 bytes at a time (SSE2 where the target has it): the block's classes become bit masks,
//  words start where the word mask rises and end at its next zero bit, so the loop runs
//  once per word, not once per byte. Newlines and backticks, rare, are looked at one by one.
void
tg_complexity_feed(tg_complexity_t *self, const char *text, size_t len)
{
    const uint8_t *p = (const uint8_t *)text, *stop = p + len;
    uint64_t carry = 0;         //  the byte before the block is a word byte
    size_t pending = SIZE_MAX;  //  start of a word that runs past the block
    unsigned lines = 0, code = 0, questions = 0, fences = 0;
    unsigned items = s_is_item(p, stop);  //  each text starts a line
    for (size_t at = 0; at < len; at += 64) {
        s_masks_t m;
        if (len - at >= 64)
            s_block(p + at, &m);
        else {
            uint8_t last[64] = {0};  //  zero bytes belong to no class
            memcpy(last, p + at, len - at);
            s_block(last, &m);
        }
        uint64_t gaps = ~m.word;
        if (pending != SIZE_MAX && gaps) {
            s_word(self, p, len, pending, at + (size_t)__builtin_ctzll(gaps));
            pending = SIZE_MAX;
        }
        for (uint64_t st = m.word & ~(m.word << 1 | carry); st; st &= st - 1) {
            unsigned bit = (unsigned)__builtin_ctzll(st);
            uint64_t rest = gaps >> bit;
            if (rest)
                s_word(self, p, len, at + bit, at + bit + (size_t)__builtin_ctzll(rest));
            else
                pending = at + bit;
        }
        carry = m.word >> 63;
        code += (unsigned)__builtin_popcountll(m.code);
        questions += (unsigned)__builtin_popcountll(m.quest);
        for (uint64_t nl = m.nl; nl; nl &= nl - 1) {
            lines++;
            items += s_is_item(p + at + (size_t)__builtin_ctzll(nl) + 1, stop);
        }
        //  A fence is a run of 3+ backticks: look at each run's start.
        for (uint64_t t = m.tick & ~(m.tick << 1); t; t &= t - 1) {
            size_t i = at + (size_t)__builtin_ctzll(t);
            if ((i == 0 || p[i - 1] != '`') && i + 2 < len && p[i + 1] == '`' && p[i + 2] == '`')
                fences++;
        }
    }
    if (pending != SIZE_MAX)
        s_word(self, p, len, pending, len);
    self->bytes += (uint32_t)len;
    self->lines += lines;
    self->code_chars += code;
    self->questions += questions;
    self->fences += fences;
    self->items += items;
}

static int
s_min(int a, int b)
{
    return a < b ? a : b;
}

int
tg_complexity_points(const tg_complexity_t *self)
{
    int pts = 0;
    uint32_t w = self->words;
    //  Length
    pts += (w >= 14) + (w >= 45) + (w >= 90) + (w >= 200);
    //  Structure: list items and many lines
    pts += (self->items >= 2) + (self->items >= 4);
    pts += self->lines >= 8;
    //  Code: a fenced block, or dense code punctuation, or code keywords
    if (self->fences >= 2)
        pts += 2;
    else if (self->code_chars >= 6 && self->code_chars * 50 >= self->bytes)
        pts += 1;
    pts += self->kw[K_CODE] >= 3;
    //  Multi-step instructions and several questions
    pts += (self->kw[K_STEP] >= 2) + (self->kw[K_STEP] >= 4);
    pts += self->questions >= 3;
    //  Keywords
    pts += 2 * s_min(self->kw[K_COMPLEX], 3);
    pts += self->kw[K_MEDIUM] ? 1 + s_min(self->kw[K_MEDIUM], 2) : 0;
    if (w < 20 && !self->kw[K_MEDIUM])
        pts -= s_min(self->kw[K_SIMPLE], 1);
    if (w < 20)
        pts -= s_min(self->kw[K_BRIEF], 1);
    return pts;
}

tg_complexity_class_t
tg_complexity_class(const tg_complexity_t *self)
{
    int pts = tg_complexity_points(self);
    return pts <= 1   ? TG_COMPLEXITY_SIMPLE
           : pts <= 6 ? TG_COMPLEXITY_MEDIUM
                      : TG_COMPLEXITY_COMPLEX;
}

tg_complexity_class_t
tg_complexity_of(const char *text, size_t len)
{
    tg_complexity_t st;
    tg_complexity_init(&st);
    tg_complexity_feed(&st, text, len);
    return tg_complexity_class(&st);
}

tg_complexity_class_t
tg_complexity_of_messages(const json_t *messages)
{
    tg_complexity_t st;
    tg_complexity_init(&st);
    size_t i, j;
    json_t *m, *part;
    json_array_foreach(messages, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role || strcmp(role, "user") != 0)
            continue;
        json_t *content = json_object_get(m, "content");
        if (json_is_string(content))
            tg_complexity_feed(&st, json_string_value(content), json_string_length(content));
        else
            json_array_foreach(content, j, part)
            {
                json_t *text = json_object_get(part, "text");
                if (json_is_string(text))
                    tg_complexity_feed(&st, json_string_value(text), json_string_length(text));
            }
    }
    return tg_complexity_class(&st);
}

const char *
tg_complexity_name(tg_complexity_class_t cls)
{
    return cls == TG_COMPLEXITY_COMPLEX  ? "complex"
           : cls == TG_COMPLEXITY_MEDIUM ? "medium"
                                         : "simple";
}

int
tg_complexity_parse(const char *name)
{
    if (!name)
        return -1;
    if (strcmp(name, "simple") == 0)
        return TG_COMPLEXITY_SIMPLE;
    if (strcmp(name, "medium") == 0)
        return TG_COMPLEXITY_MEDIUM;
    if (strcmp(name, "complex") == 0)
        return TG_COMPLEXITY_COMPLEX;
    return -1;
}
