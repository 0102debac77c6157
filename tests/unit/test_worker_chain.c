//  test_worker_chain.c - which failures move a call to its next target, and which count
//  against a target's breaker.
#include <CUnit/CUnit.h>

#include "worker_int.h"

static void
test_fails_over(void)
{
    CU_ASSERT_TRUE(worker_chain_fails_over(500, "server_error"));
    CU_ASSERT_TRUE(worker_chain_fails_over(502, "upstream_reset"));
    CU_ASSERT_TRUE(worker_chain_fails_over(503, NULL));
    CU_ASSERT_TRUE(worker_chain_fails_over(504, "upstream_first_byte_timeout"));
    CU_ASSERT_TRUE(worker_chain_fails_over(429, "rate_limit_exceeded"));
    CU_ASSERT_TRUE(worker_chain_fails_over(408, NULL));
    CU_ASSERT_TRUE(worker_chain_fails_over(409, NULL));
    CU_ASSERT_FALSE(worker_chain_fails_over(400, "invalid_request"));
    CU_ASSERT_FALSE(worker_chain_fails_over(401, NULL));
    CU_ASSERT_FALSE(worker_chain_fails_over(404, "model_not_found"));
    CU_ASSERT_FALSE(worker_chain_fails_over(499, "client_closed"));
    CU_ASSERT_FALSE(worker_chain_fails_over(504, "deadline_exceeded"));
    CU_ASSERT_FALSE(worker_chain_fails_over(503, "worker_shutdown"));
}

static void
test_outcome_kind(void)
{
    CU_ASSERT_EQUAL(worker_outcome_kind(500, false), 'f');
    CU_ASSERT_EQUAL(worker_outcome_kind(429, false), 'f');
    CU_ASSERT_EQUAL(worker_outcome_kind(408, false), 'f');
    CU_ASSERT_EQUAL(worker_outcome_kind(0, false), 'f');    //  network error, timeout
    CU_ASSERT_EQUAL(worker_outcome_kind(200, false), 'f');  //  a broken 200 answer
    CU_ASSERT_EQUAL(worker_outcome_kind(400, false), 'n');
    CU_ASSERT_EQUAL(worker_outcome_kind(401, false), 'n');
    CU_ASSERT_EQUAL(worker_outcome_kind(404, false), 'n');
    CU_ASSERT_EQUAL(worker_outcome_kind(400, true), 'f');  //  we cut it (answer too large ...)
}

void
test_worker_chain_register(void)
{
    CU_pSuite s = CU_add_suite("worker_chain", NULL, NULL);
    CU_add_test(s, "which failures fail over", test_fails_over);
    CU_add_test(s, "outcome kinds", test_outcome_kind);
}
