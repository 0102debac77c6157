//  analytics_sketch.h - mergeable quantile sketch with relative-error log buckets (DDSketch).
//
//  A value v > 0 falls in bucket i = ceil(log_g(v)), g = (1 + a) / (1 - a), a =
//  ANALYTICS_SKETCH_ALPHA; the bucket answers 2 g^i / (g + 1), within a relative error of a of
//  every value in it. Values <= 0 are counted in a zero bucket. At most
//  ANALYTICS_SKETCH_MAX_BINS buckets are kept: past that, the lowest ones are folded into the
//  lowest kept bucket (low quantiles lose accuracy first; p50..p99 keep theirs). Two sketches
//  merge by adding bucket counts, so a merge equals the sketch of the union.
//
//  Encoding (version 1), all numbers LEB128 varints: ['D'][1][zero count][buckets n]
//  [zigzag(first index)][count] then n - 1 times [index - previous index (> 0)][count (> 0)].
#ifndef ANALYTICS_SKETCH_H
#define ANALYTICS_SKETCH_H

#include <stddef.h>
#include <stdint.h>

#define ANALYTICS_SKETCH_ALPHA 0.01     //  relative accuracy of every quantile
#define ANALYTICS_SKETCH_MAX_BINS 1024  //  buckets kept at most (a factor of 8.6e8 at 1 %)

typedef struct analytics_sketch analytics_sketch_t;

//  An empty sketch.
analytics_sketch_t *analytics_sketch_new(void);
//  Frees the sketch; *self_p = NULL. NULL-safe.
void analytics_sketch_destroy(analytics_sketch_t **self_p);
//  Counts one value (<= 0 and NaN count as 0).
void analytics_sketch_add(analytics_sketch_t *self, double value);
//  Values counted.
uint64_t analytics_sketch_count(const analytics_sketch_t *self);
//  The q-quantile (q in 0..1, clamped): the value of rank floor(q (count - 1)), within the
//  relative error; NAN when the sketch is empty.
double analytics_sketch_quantile(const analytics_sketch_t *self, double q);
//  Adds every count of `other` (borrowed) into self.
void analytics_sketch_merge(analytics_sketch_t *self, const analytics_sketch_t *other);
//  The encoding above, on the heap (caller frees); its length in *len_p.
uint8_t *analytics_sketch_encode(const analytics_sketch_t *self, size_t *len_p);
//  Decodes bytes from analytics_sketch_encode (borrowed). A new sketch, or NULL when the
//  bytes are not one (truncated, bad version, indexes out of order or range, zero counts,
//  trailing bytes); not logged, the caller says what it was reading.
analytics_sketch_t *analytics_sketch_decode(const uint8_t *data, size_t len);

#endif
