//  alert_book.h - budget alerts: which thresholds a SPEND crosses, fired once per period and
//  kept in LMDB.
//
//  Layout (schema version 1), in <data_dir>/alert:
//    alerts  [u64 BE ts µs][id] -> [u8 severity: 'i' | 'w' | 'c'][alert as JSON text]
//    fired   "<scope>/<daily|monthly>/<period>/<threshold %|forecast>@<budget>" -> alert id
//    rules   rule id -> the rule as JSON (alert_rule_json), its last firing included
//    dead    delivery id -> a dead-lettered webhook delivery as JSON (alert_webhook.c)
//    outbox  delivery id -> a delivery not yet done (same JSON), re-queued after a restart
//  rules, dead and outbox came after version 1 without a migration: opening creates them
//  empty.
//  An alert and its `fired` record are written in one txn, so a restart never fires a
//  threshold twice in a period and never loses one that was published. The budget is part
//  of the key: after the operator changes a budget, its thresholds fire anew.
#ifndef ALERT_BOOK_H
#define ALERT_BOOK_H

#include <stddef.h>
#include <stdint.h>

#include "tg_frame.h"

#define ALERT_SCHEMA_VERSION 1

typedef struct alert_book alert_book_t;

//  Opens (creating) the book in `dir` with an initial map of map_size bytes. NULL (logged).
alert_book_t *alert_book_new(const char *dir, size_t map_size);
//  Closes the book; *self_p = NULL. NULL-safe.
void alert_book_destroy(alert_book_t **self_p);

//  Checks a SPEND (borrowed) against the global budgets (USD; 0 = none): daily 75/90/100 %,
//  monthly 50/75/90/100 %, and the monthly forecast (tg_budget_overage at spend->ts).
//  Alerts not fired before in their period are stored in one txn; then *alerts_p holds
//  them as ALERT frames (topic = severity; caller publishes and frees the frames and the
//  array) and *n_p their count. TG_OK, TG_INVALID for a malformed SPEND (nothing fired),
//  TG_ERR when the store failed (nothing fired; the next SPEND tries again).
int alert_book_on_spend(alert_book_t *self,
                        const tg_fr_spend_t *spend,
                        double daily_usd,
                        double monthly_usd,
                        tg_frame_t ***alerts_p,
                        size_t *n_p);

//  The stored alerts with ts >= since_us, newest first, at most `limit`, only of
//  `severity` if not NULL, as {"object":"list","data":[...]}. Caller frees; NULL on a
//  store failure (logged).
char *alert_book_list(alert_book_t *self, int64_t since_us, size_t limit, const char *severity);

//  Stores n fired rule alerts (ALERT frames, borrowed) and their rules' new JSON (fired_us
//  moved) in one txn, so a restart keeps the cool-down and many rules firing on one event
//  cost one commit. TG_OK or TG_ERR (nothing stored).
int alert_book_add_rule_alerts(alert_book_t *self,
                               tg_frame_t *const *alerts,
                               const char *const *rule_ids,
                               char *const *rule_jsons,
                               size_t n);

//  The alert as JSON text, as the history lists it and webhooks receive it. Caller frees.
char *alert_book_json(const tg_fr_alert_t *alert);

//  Record stores of the rules, dead and outbox dbs: key -> JSON text.
typedef enum { ALERT_BOOK_RULES, ALERT_BOOK_DEAD, ALERT_BOOK_OUTBOX } alert_book_kind_t;
//  Stores (overwrites) key -> json. TG_OK or TG_ERR.
int alert_book_put(alert_book_t *self, alert_book_kind_t kind, const char *key, const char *json);
//  Deletes key; with json_p, the deleted record is returned (caller frees). TG_OK,
//  TG_NOTFOUND or TG_ERR.
int alert_book_take(alert_book_t *self, alert_book_kind_t kind, const char *key, char **json_p);
//  Looks key up: TG_OK with *json_p (caller frees), TG_NOTFOUND or TG_ERR.
int alert_book_get(alert_book_t *self, alert_book_kind_t kind, const char *key, char **json_p);
//  Calls fn(json, arg) for every record in key order; json is valid during the call only.
int alert_book_each(alert_book_t *self,
                    alert_book_kind_t kind,
                    void (*fn)(const char *json, void *arg),
                    void *arg);

#endif
