//  alert_rules.h - the alert rules of this gateway (spec L2): CRUD over QUERY frames, kept in
//  the alert book, fed with usage events and evaluated over their windows.
#ifndef ALERT_RULES_H
#define ALERT_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "alert_book.h"
#include "alert_rule.h"
#include "tg_frame.h"

#define ALERT_RULES_MAX 1000  //  rules per gateway

typedef struct alert_rules alert_rules_t;

//  Called for each alert a rule fires (already stored): the ALERT frame is the callee's
//  (*alert_p = NULL after); rule is borrowed for the call.
typedef void(alert_rules_fire_fn)(const alert_rule_t *rule, tg_frame_t **alert_p, void *arg);

//  Loads the stored rules from `book` (borrowed); windows are watched from now_us.
alert_rules_t *alert_rules_new(alert_book_t *book, int64_t now_us);
//  Frees the rules; *self_p = NULL. NULL-safe.
void alert_rules_destroy(alert_rules_t **self_p);
//  Answers a QUERY whose path starts with /v1/alerts/rules (body: the request's JSON, may
//  be NULL). Caller owns the REPLY.
tg_frame_t *alert_rules_query(
    alert_rules_t *self, const tg_fr_query_t *q, const char *body, size_t len, int64_t now_us);
//  Adds a usage event to the window of every rule it matches, at now_us.
void alert_rules_on_event(alert_rules_t *self, const tg_fr_usage_t *u, int64_t now_us);
//  Adds the spend totals of a SPEND to the window of every spend rule, at now_us.
void alert_rules_on_spend(alert_rules_t *self, const tg_fr_spend_t *sp, int64_t now_us);
//  Evaluates every enabled rule at now_us; each one that fires is stored and handed to fn.
//  Returns how many fired.
size_t alert_rules_eval(alert_rules_t *self, int64_t now_us, alert_rules_fire_fn *fn, void *arg);
//  Rules held.
size_t alert_rules_count(const alert_rules_t *self);
//  Enabled rules that read usage events (not spend rules): when 0, EVENTS need not come.
size_t alert_rules_count_usage(const alert_rules_t *self);

#endif
