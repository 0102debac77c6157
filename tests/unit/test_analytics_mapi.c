//  test_analytics_mapi.c - the metrics API's front: roles (403 naming the role), the per-key
//  token bucket (429 past the burst, refilled with time), the 60 s cache (served again,
//  dropped by an event in its range, not by one outside it, expired after 60 s), methods.
#include <CUnit/CUnit.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "analytics_mapi.h"
#include "tg_keyrec.h"
#include "tg_utc.h"
#include "tg_util.h"
#include "test_tmpdir.h"

static tg_frame_t *
s_query(const char *method,
        const char *path,
        const char *args,
        const char *body,
        const char *org,
        uint64_t roles,
        const char *key)
{
    tg_frame_t *f = tg_frame_new(TG_FRAME_QUERY);
    f->query.id = tg_strdup("req_1");
    f->query.reply_to = tg_strdup("inproc://nowhere");
    f->query.method = tg_strdup(method);
    f->query.path = tg_strdup(path);
    f->query.args = args ? tg_strdup(args) : NULL;
    f->query.org = org ? tg_strdup(org) : NULL;
    f->query.roles = roles;
    f->query.key = tg_strdup(key);
    if (body)
        tg_frame_set_body(f, body, strlen(body));
    return f;
}

//  The status of the answer (and its error message in msg, when one).
static int
s_ask(analytics_mapi_t *m,
      analytics_store_t *st,
      tg_frame_t *f,
      int64_t now,
      int64_t mono,
      char *msg,
      size_t size)
{
    tg_frame_t *r = analytics_mapi_answer(m, st, f, now, mono);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    int status = (int)r->reply.status;
    if (msg) {
        json_t *doc = json_loadb(r->body, r->body_len, 0, NULL);
        const char *s =
            json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
        snprintf(msg, size, "%s", s ? s : "");
        json_decref(doc);
    }
    tg_frame_destroy(&r);
    return status;
}

static void
test_mapi(void)
{
    char *dir = test_tmpdir("mapi");
    analytics_store_t *st = analytics_store_new(dir, 16 << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    analytics_mapi_t *m = analytics_mapi_new();
    int64_t now = 0;
    CU_ASSERT_EQUAL_FATAL(tg_utc_parse("2026-11-25T12:00:00Z", &now), TG_OK);
    int64_t mono = 1000000000;
    char msg[256];
    const char *args = "metrics=request_count&interval=1hour&start_time=2026-11-25T00:00:00Z"
                       "&end_time=2026-11-25T12:00:00Z";

    //  roles
    tg_frame_t *f = s_query("POST", "/api/v1/metrics/query", NULL, "{\"metrics\":[\"ttft\"]}",
                            "acme", TG_ROLE_METRICS_READ, "key_a");
    CU_ASSERT_EQUAL(s_ask(m, st, f, now, mono, msg, sizeof msg), 403);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "metrics:query"));
    tg_frame_destroy(&f);
    f = s_query("GET", "/api/v1/metrics/summary", NULL, NULL, "acme", TG_ROLE_METRICS_QUERY,
                "key_a");
    CU_ASSERT_EQUAL(s_ask(m, st, f, now, mono, msg, sizeof msg), 403);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "metrics:read"));
    tg_frame_destroy(&f);
    f = s_query("GET", "/api/v1/metrics/summary", NULL, NULL, "acme", TG_ROLE_ADMIN, "key_b");
    CU_ASSERT_EQUAL(s_ask(m, st, f, now, mono, NULL, 0), 200);
    tg_frame_destroy(&f);
    f = s_query("GET", "/api/v1/metrics/query", NULL, NULL, NULL, TG_ROLE_ALL, "master");
    CU_ASSERT_EQUAL(s_ask(m, st, f, now, mono, NULL, 0), 405);
    tg_frame_destroy(&f);

    //  cache: the second ask is served from it; an event in its range drops it, one after
    //  its range does not; after 60 s it is computed again
    uint64_t hits, misses, h0, m0;
    analytics_mapi_stats(m, &h0, &m0);
    f = s_query("GET", "/api/v1/metrics", args, NULL, NULL, TG_ROLE_ALL, "master");
    CU_ASSERT_EQUAL(s_ask(m, st, f, now, mono, NULL, 0), 200);
    CU_ASSERT_EQUAL(s_ask(m, st, f, now, mono + 1000, NULL, 0), 200);
    analytics_mapi_stats(m, &hits, &misses);
    CU_ASSERT_EQUAL(hits - h0, 1);
    CU_ASSERT_EQUAL(misses - m0, 1);
    analytics_mapi_touch(m, now + 3600000000LL, now + 3600000000LL);  //  after the range
    CU_ASSERT_EQUAL(s_ask(m, st, f, now, mono + 2000, NULL, 0), 200);
    analytics_mapi_stats(m, &hits, &misses);
    CU_ASSERT_EQUAL(hits - h0, 2);
    analytics_mapi_touch(m, now - 3600000000LL, now - 3600000000LL);  //  inside it
    CU_ASSERT_EQUAL(s_ask(m, st, f, now, mono + 3000, NULL, 0), 200);
    analytics_mapi_stats(m, &hits, &misses);
    CU_ASSERT_EQUAL(misses - m0, 2);
    CU_ASSERT_EQUAL(s_ask(m, st, f, now, mono + 3000 + ANALYTICS_MAPI_CACHE_US, NULL, 0), 200);
    analytics_mapi_stats(m, &hits, &misses);
    CU_ASSERT_EQUAL(misses - m0, 3);  //  expired
    tg_frame_destroy(&f);
    //  another organization's same question is not served from the master's answer
    f = s_query("GET", "/api/v1/metrics", args, NULL, "acme", TG_ROLE_METRICS_READ, "key_c");
    CU_ASSERT_EQUAL(s_ask(m, st, f, now, mono + 4000, NULL, 0), 200);
    analytics_mapi_stats(m, &hits, &misses);
    CU_ASSERT_EQUAL(misses - m0, 4);
    tg_frame_destroy(&f);

    //  rate limit: metrics:read has a burst of 30 at 10/s; cached answers count too
    f = s_query("GET", "/api/v1/metrics", args, NULL, "acme", TG_ROLE_METRICS_READ, "key_d");
    int ok = 0, limited = 0;
    for (int i = 0; i < 40; i++) {
        int s = s_ask(m, st, f, now, mono + 10000, msg, sizeof msg);
        ok += s == 200;
        limited += s == 429;
    }
    CU_ASSERT_EQUAL(ok, 30);
    CU_ASSERT_EQUAL(limited, 10);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "rate limit"));
    CU_ASSERT_EQUAL(s_ask(m, st, f, now, mono + 10000 + 100000, NULL, 0), 200);  //  +1 token
    CU_ASSERT_EQUAL(s_ask(m, st, f, now, mono + 10000 + 100000, NULL, 0), 429);
    tg_frame_destroy(&f);
    //  the master key is not limited
    f = s_query("GET", "/api/v1/metrics", args, NULL, NULL, TG_ROLE_ALL, "master");
    for (int i = 0; i < 200; i++)
        CU_ASSERT_EQUAL(s_ask(m, st, f, now, mono + 20000, NULL, 0), 200);
    tg_frame_destroy(&f);
    //  a bad query: 400, not cached
    f = s_query("GET", "/api/v1/metrics", "metrics=nope", NULL, NULL, TG_ROLE_ALL, "master");
    CU_ASSERT_EQUAL(s_ask(m, st, f, now, mono, msg, sizeof msg), 400);
    tg_frame_destroy(&f);

    analytics_mapi_destroy(&m);
    analytics_store_destroy(&st);
    test_rmdir(&dir);
}

void
test_analytics_mapi_register(void)
{
    CU_pSuite s = CU_add_suite("analytics_mapi", NULL, NULL);
    CU_add_test(s, "roles, rate limits, cache", test_mapi);
}
