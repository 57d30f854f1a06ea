/* test-budget.c — SluiceBudget: caps per UTC day and month and scope,
 * past spending read from a ledger the real sqlite sink wrote.
 *
 * The clock is fixed at 2026-03-15 12:00:00 UTC. The ledger holds, for
 * pipeline "p":
 *
 *   alice  today $3.00, yesterday $2.00, 1 March 00:00 $1.00, last month $50.00
 *   bob    today $1.00, yesterday $4.00,                      last month $10.00
 *   (none) today $0.50, pipeline "other", no labels at all
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-budget-private.h"
#include "sluice-test-util.h"

#include <glib/gstdio.h>
#include <string.h>

static gint64 now_usec;
static char *ledger;         /* the shared ledger above */
static GString *warnings;    /* budget warnings, one a line */
static GString *messages;    /* budget messages (refusals), one a line */

static gint64
test_clock (gpointer user_data)
{
  return now_usec;
}

static void
set_now (const char *iso8601)
{
  g_autoptr(GDateTime) time = g_date_time_new_from_iso8601 (iso8601, NULL);

  g_assert_nonnull (time);
  now_usec = g_date_time_to_unix (time) * G_USEC_PER_SEC + 1234;
}

/* Budget warnings and messages are kept (a warning would abort the test
 * in the default writer); everything else goes on as usual. */
static GLogWriterOutput
writer (GLogLevelFlags   level,
        const GLogField *fields,
        gsize            n_fields,
        gpointer         user_data)
{
  const char *domain = NULL, *message = NULL;

  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, "GLIB_DOMAIN"))
      domain = fields[i].value;
    else if (g_str_equal (fields[i].key, "MESSAGE"))
      message = fields[i].value;
  if (g_strcmp0 (domain, "sluice-budget") == 0 && message != NULL &&
      (level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE)) != 0)
    {
      g_string_append_printf ((level & G_LOG_LEVEL_WARNING) ? warnings : messages, "%s\n", message);
      return G_LOG_WRITER_HANDLED;
    }
  return g_log_writer_default (level, fields, n_fields, user_data);
}

/* ---- the ledger, written by the sqlite sink ----------------------------------------------- */

static void
on_flushed (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  gboolean *done = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (sluice_cost_sink_flush_finish (SLUICE_COST_SINK (source), result, &error));
  g_assert_no_error (error);
  *done = TRUE;
}

static void
add_attempt (SluiceCostSink *sink,
             const char     *time,
             const char     *pipeline,
             const char     *user,
             gdouble         cost_usd)
{
  static guint n;
  g_autoptr(JsonObject) record = json_object_new ();
  g_autofree char *request_id = g_strdup_printf ("req-%u", ++n);

  json_object_set_string_member (record, "type", "attempt");
  json_object_set_string_member (record, "started_at", time);
  json_object_set_string_member (record, "request_id", request_id);
  json_object_set_string_member (record, "pipeline", pipeline);
  json_object_set_int_member (record, "index", 0);
  json_object_set_string_member (record, "provider", "openai");
  json_object_set_string_member (record, "model", "gpt-4o-mini");
  json_object_set_string_member (record, "outcome", "ok");
  json_object_set_double_member (record, "cost_usd", cost_usd);
  if (user != NULL)
    {
      JsonObject *labels = json_object_new ();

      json_object_set_string_member (labels, "user", user);
      json_object_set_string_member (labels, "team", "red");
      json_object_set_object_member (record, "labels", labels);
    }
  sluice_cost_sink_record (sink, record);
}

static char *
write_ledger (void)
{
  g_autoptr(SluiceEngine) engine = sluice_engine_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GObject) sink = sluice_engine_create (engine, "sink", "sqlite", &error);
  g_autoptr(JsonObject) config = json_object_new ();
  g_autofree char *path = sluice_test_write_file ("ledger.db", "");
  gboolean done = FALSE;

  g_assert_no_error (error);
  g_assert_cmpint (g_unlink (path), ==, 0);
  json_object_set_string_member (config, "path", path);
  g_assert_true (sluice_cost_sink_configure (SLUICE_COST_SINK (sink), config, &error));
  g_assert_no_error (error);

  add_attempt (SLUICE_COST_SINK (sink), "2026-03-15T08:00:00.000Z", "p", "alice", 3.00);
  add_attempt (SLUICE_COST_SINK (sink), "2026-03-14T23:59:59.999Z", "p", "alice", 2.00);
  add_attempt (SLUICE_COST_SINK (sink), "2026-03-01T00:00:00.000Z", "p", "alice", 1.00);
  add_attempt (SLUICE_COST_SINK (sink), "2026-02-28T23:59:59.999Z", "p", "alice", 50.00);
  add_attempt (SLUICE_COST_SINK (sink), "2026-03-15T11:59:00.000Z", "p", "bob", 1.00);
  add_attempt (SLUICE_COST_SINK (sink), "2026-03-14T10:00:00.000Z", "p", "bob", 4.00);
  add_attempt (SLUICE_COST_SINK (sink), "2026-02-10T10:00:00.000Z", "p", "bob", 10.00);
  add_attempt (SLUICE_COST_SINK (sink), "2026-03-15T00:00:00.000Z", "other", NULL, 0.50);

  sluice_cost_sink_flush_async (SLUICE_COST_SINK (sink), NULL, on_flushed, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
  return g_steal_pointer (&path);
}

/* ---- helpers ----------------------------------------------------------------------------- */

/* A budget over @ledger_path (NULL: the shared one) from a JSON block
 * that may leave `ledger` out. */
static SluiceBudget *
budget_new (const char  *block,
            const char  *ledger_path,
            GError     **error)
{
  g_autoptr(JsonNode) node = json_from_string (block, NULL);
  JsonObject *config;

  g_assert_nonnull (node);
  config = json_node_get_object (node);
  if (!json_object_has_member (config, "ledger"))
    json_object_set_string_member (config, "ledger", ledger_path != NULL ? ledger_path : ledger);
  return sluice_budget_new_with_clock (config, "p", test_clock, NULL, error);
}

static SluiceBudget *
budget (const char *block)
{
  g_autoptr(GError) error = NULL;
  SluiceBudget *self = budget_new (block, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (self);
  return self;
}

static SluiceContext *
context_for (const char *user)
{
  g_autoptr(JsonNode) input = json_from_string ("{}", NULL);
  SluiceContext *context = sluice_context_new (input);

  if (user != NULL)
    sluice_context_set_label (context, "user", user);
  return context;
}

/* Reserves @usd for @user; asserts it is admitted. */
static guint64
admit (SluiceBudget *self,
       const char   *user,
       gdouble       usd)
{
  g_autoptr(SluiceContext) context = context_for (user);
  g_autoptr(GError) error = NULL;
  guint64 reservation = sluice_budget_reserve (self, context, usd, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (reservation, >, 0);
  return reservation;
}

/* Reserves @usd for @user; asserts it is refused with @message. */
static void
refuse (SluiceBudget *self,
        const char   *user,
        gdouble       usd,
        const char   *message)
{
  g_autoptr(SluiceContext) context = context_for (user);
  g_autoptr(GError) error = NULL;
  guint n_refused = sluice_budget_get_n_refused (self);
  g_autofree char *logged = g_strdup_printf ("budget: refused a request of pipeline 'p': %s\n", message);

  g_string_truncate (messages, 0);
  g_assert_cmpuint (sluice_budget_reserve (self, context, usd, &error), ==, 0);
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_BUDGET_EXCEEDED);
  g_assert_cmpstr (error->message, ==, message);
  g_assert_cmpuint (sluice_budget_get_n_refused (self), ==, n_refused + 1);
  g_assert_cmpstr (messages->str, ==, logged);
}

/* ---- caps -------------------------------------------------------------------------------- */

/* Yesterday's $2.00 of alice's and $4.00 of bob's do not count today. */
static void
test_daily (void)
{
  g_autoptr(SluiceBudget) self = budget ("{\"daily_usd\": 5, \"per\": [\"label:user\"]}");

  refuse (self, "alice", 2.01,
          "daily budget of $5.00 for user 'alice' would be passed: $3.00 spent, this request up to $2.01");
  admit (self, "alice", 2.00);   /* exactly the cap */
  refuse (self, "alice", 0.01,
          "daily budget of $5.00 for user 'alice' would be passed: $3.00 spent, $2.00 reserved by requests "
          "in flight, this request up to $0.01");
  admit (self, "bob", 4.00);
  refuse (self, "bob", 0.000075,
          "daily budget of $5.00 for user 'bob' would be passed: $1.00 spent, $4.00 reserved by requests "
          "in flight, this request up to $0.000075");
  g_assert_cmpuint (sluice_budget_get_n_refused (self), ==, 3);
}

/* The month is 1 March 00:00 on: alice $6.00 (not February's $50). */
static void
test_monthly (void)
{
  g_autoptr(SluiceBudget) self = budget ("{\"monthly_usd\": 60, \"per\": [\"label:user\"]}");

  refuse (self, "alice", 54.01,
          "monthly budget of $60.00 for user 'alice' would be passed: $6.00 spent, this request up to $54.01");
  refuse (self, "bob", 55.01,
          "monthly budget of $60.00 for user 'bob' would be passed: $5.00 spent, this request up to $55.01");
  admit (self, "alice", 54.00);
  admit (self, "bob", 55.00);
}

/* Both caps: the daily one refuses first when both would be passed, the
 * monthly one when only it would. */
static void
test_daily_and_monthly (void)
{
  g_autoptr(SluiceBudget) self = budget ("{\"daily_usd\": 5, \"monthly_usd\": 7.5, \"per\": [\"label:user\"]}");

  refuse (self, "alice", 1.51,
          "monthly budget of $7.50 for user 'alice' would be passed: $6.00 spent, this request up to $1.51");
  refuse (self, "alice", 2.5,
          "daily budget of $5.00 for user 'alice' would be passed: $3.00 spent, this request up to $2.50");
  admit (self, "alice", 1.5);
}

/* Each label value is its own account, and a request without the label
 * is one too (""), holding the unlabelled row. */
static void
test_labels_independent (void)
{
  g_autoptr(SluiceBudget) self = budget ("{\"daily_usd\": 1, \"per\": [\"label:user\"]}");
  g_autoptr(SluiceBudget) teams = budget ("{\"daily_usd\": 4.2, \"per\": [\"label:team\"]}");

  refuse (self, "alice", 0.01,
          "daily budget of $1.00 for user 'alice' would be passed: $3.00 spent, this request up to $0.01");
  refuse (self, "bob", 0.01,
          "daily budget of $1.00 for user 'bob' would be passed: $1.00 spent, this request up to $0.01");
  admit (self, "bob", 0);
  admit (self, "carol", 1.00);
  refuse (self, NULL, 0.51,
          "daily budget of $1.00 for user '' would be passed: $0.50 spent, this request up to $0.51");
  admit (self, NULL, 0.50);

  /* team "red" holds alice's and bob's rows: $4.00 today */
  {
    g_autoptr(SluiceContext) red = context_for (NULL);
    g_autoptr(GError) error = NULL;

    sluice_context_set_label (red, "team", "red");
    g_assert_cmpuint (sluice_budget_reserve (teams, red, 0.21, &error), ==, 0);
    g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_BUDGET_EXCEEDED);
    g_assert_cmpstr (error->message, ==, "daily budget of $4.20 for team 'red' would be passed: $4.00 spent, "
                                         "this request up to $0.21");
    g_clear_error (&error);
    g_assert_cmpuint (sluice_budget_reserve (teams, red, 0.20, &error), >, 0);
    g_assert_no_error (error);
  }
}

static void
test_overall (void)
{
  g_autoptr(SluiceBudget) self = budget ("{\"daily_usd\": 10, \"per\": [\"overall\"]}");

  /* every row of today: 3 + 1 + 0.50, whoever and whichever pipeline */
  refuse (self, "carol", 5.51,
          "daily budget of $10.00 overall would be passed: $4.50 spent, this request up to $5.51");
  admit (self, "dave", 5.00);
  refuse (self, NULL, 0.51,
          "daily budget of $10.00 overall would be passed: $4.50 spent, $5.00 reserved by requests in flight, "
          "this request up to $0.51");
}

/* The default scope is the pipeline: "p" spent $4.00 today, not the
 * $0.50 of "other". Every scope of the list must admit. */
static void
test_pipeline_and_several_scopes (void)
{
  g_autoptr(SluiceBudget) self = budget ("{\"daily_usd\": 5}");
  g_autoptr(SluiceBudget) both = budget ("{\"daily_usd\": 5, \"per\": [\"pipeline\", \"label:user\"]}");

  refuse (self, "carol", 1.01,
          "daily budget of $5.00 for pipeline 'p' would be passed: $4.00 spent, this request up to $1.01");
  admit (self, "carol", 1.00);

  refuse (both, "alice", 1.5,
          "daily budget of $5.00 for pipeline 'p' would be passed: $4.00 spent, this request up to $1.50");
  admit (both, "alice", 1.00);
  refuse (both, "bob", 0.01,
          "daily budget of $5.00 for pipeline 'p' would be passed: $4.00 spent, $1.00 reserved by requests "
          "in flight, this request up to $0.01");
}

/* ---- reservations ------------------------------------------------------------------------ */

static void
test_settle (void)
{
  g_autoptr(SluiceBudget) self = budget ("{\"daily_usd\": 5, \"per\": [\"label:user\"]}");
  guint64 first = admit (self, "alice", 2.00);
  guint64 second;

  refuse (self, "alice", 0.50,
          "daily budget of $5.00 for user 'alice' would be passed: $3.00 spent, $2.00 reserved by requests "
          "in flight, this request up to $0.50");
  sluice_budget_settle (self, first, 1.00);   /* cost less than estimated: $1.00 frees up */
  sluice_budget_settle (self, first, 0);       /* settled already: nothing changes */
  refuse (self, "alice", 1.01,
          "daily budget of $5.00 for user 'alice' would be passed: $4.00 spent, this request up to $1.01");
  second = admit (self, "alice", 0.50);
  g_assert_cmpuint (second, !=, first);
  sluice_budget_settle (self, second, -1);     /* unknown: the estimate stands */
  refuse (self, "alice", 0.51,
          "daily budget of $5.00 for user 'alice' would be passed: $4.50 spent, this request up to $0.51");
  /* an actual above the estimate counts in full */
  sluice_budget_settle (self, admit (self, "bob", 1.00), 3.50);
  refuse (self, "bob", 0.51,
          "daily budget of $5.00 for user 'bob' would be passed: $4.50 spent, this request up to $0.51");
}

/* Requests in flight together: the first one's reservation counts
 * before it is settled, so the second cannot pass the cap too. */
static void
test_concurrent (void)
{
  g_autoptr(SluiceBudget) self = budget ("{\"daily_usd\": 5, \"per\": [\"overall\"]}");
  guint64 a = admit (self, "alice", 0.30);

  refuse (self, "bob", 0.30,
          "daily budget of $5.00 overall would be passed: $4.50 spent, $0.30 reserved by requests in flight, "
          "this request up to $0.30");
  sluice_budget_settle (self, a, 0.10);
  admit (self, "bob", 0.30);
  refuse (self, "bob", 0.11,
          "daily budget of $5.00 overall would be passed: $4.60 spent, $0.30 reserved by requests in flight, "
          "this request up to $0.11");
}

/* ---- days and months turn ---------------------------------------------------------------- */

static void
test_rollover (void)
{
  g_autoptr(SluiceBudget) self = budget ("{\"daily_usd\": 4.5, \"monthly_usd\": 8, \"per\": [\"label:user\"]}");
  g_autoptr(SluiceBudget) daily = budget ("{\"daily_usd\": 4.5, \"per\": [\"label:user\"]}");
  guint64 in_flight = admit (self, "alice", 1.00);
  guint64 daily_in_flight = admit (daily, "alice", 1.00);

  refuse (self, "alice", 0.60,
          "daily budget of $4.50 for user 'alice' would be passed: $3.00 spent, $1.00 reserved by requests "
          "in flight, this request up to $0.60");

  /* A new day: today's $3.00 is yesterday's; the month still holds $6.00. */
  set_now ("2026-03-16T00:00:00Z");
  admit (self, "bob", 3.00);
  refuse (self, "alice", 1.01,
          "monthly budget of $8.00 for user 'alice' would be passed: $6.00 spent, $1.00 reserved by requests "
          "in flight, this request up to $1.01");
  /* Started yesterday: its cost is yesterday's, but this month's. */
  sluice_budget_settle (self, in_flight, 1.50);
  refuse (self, "alice", 0.51,
          "monthly budget of $8.00 for user 'alice' would be passed: $7.50 spent, this request up to $0.51");
  admit (self, "alice", 0.50);
  admit (daily, "bob", 0);   /* this one sees that the day turned */
  sluice_budget_settle (daily, daily_in_flight, 1.50);
  refuse (daily, "alice", 4.51,
          "daily budget of $4.50 for user 'alice' would be passed: $0.00 spent, this request up to $4.51");
  admit (daily, "alice", 4.50);

  /* A new month: nothing of the ledger counts; what is in flight still does. */
  set_now ("2026-04-01T00:00:00Z");
  admit (self, "alice", 4.00);
  refuse (self, "alice", 0.01,
          "daily budget of $4.50 for user 'alice' would be passed: $0.00 spent, $4.50 reserved by requests "
          "in flight, this request up to $0.01");
}

/* ---- estimates --------------------------------------------------------------------------- */

static void
test_estimate (void)
{
  g_autoptr(SluiceBudget) self = budget ("{\"daily_usd\": 5}");
  g_autoptr(SluiceBudget) longer = budget ("{\"daily_usd\": 5, \"estimate_completion_tokens\": 2000}");
  g_autoptr(SluiceContext) context = context_for ("alice");
  g_autoptr(JsonNode) messages = json_from_string (
    "[{\"role\": \"system\", \"content\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"},"   /* 40 bytes: 5 tokens */
    " {\"role\": \"user\", \"content\": \"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\"}]",   /* 58: 15 */
    NULL);
  g_autoptr(JsonNode) target_node = json_from_string (
    "{\"provider\": \"openai\", \"model\": \"gpt-4o-mini\", \"max_tokens\": 500}", NULL);
  JsonObject *target = json_node_get_object (target_node);

  /* gpt-4o-mini: $0.15 in, $0.60 out per million tokens. Prompt, counted
   * exactly with o200k_base: 5 + 15 tokens of content, 1 + 1 of roles, 3
   * of framing per message and 3 for the reply = 31. */
  sluice_context_set_messages (context, json_node_get_array (messages));
  g_assert_cmpfloat_with_epsilon (sluice_budget_estimate (self, context, "openai", "gpt-4o-mini", target),
                                  (31 * 0.15 + 500 * 0.60) / 1e6, 1e-15);
  g_assert_cmpfloat_with_epsilon (sluice_budget_estimate (self, context, "openai", "gpt-4o-mini", NULL),
                                  (31 * 0.15 + 1024 * 0.60) / 1e6, 1e-15);
  g_assert_cmpfloat_with_epsilon (sluice_budget_estimate (longer, context, "openai", "gpt-4o-mini", NULL),
                                  (31 * 0.15 + 2000 * 0.60) / 1e6, 1e-15);
  /* The caller's count of input tokens wins over the estimate. */
  json_object_set_int_member (sluice_context_get_variables (context), "input_tokens", 10000);
  g_assert_cmpfloat_with_epsilon (sluice_budget_estimate (self, context, "openai", "gpt-4o-mini", target),
                                  (10000 * 0.15 + 500 * 0.60) / 1e6, 1e-15);
  /* The token-count stage's count for this model wins over both... */
  sluice_context_set_counted_prompt_tokens (context, 2000, FALSE, "gpt-4o-mini");
  g_assert_cmpfloat_with_epsilon (sluice_budget_estimate (self, context, "openai", "gpt-4o-mini", target),
                                  (2000 * 0.15 + 500 * 0.60) / 1e6, 1e-15);
  /* ...but not a count made for another model. */
  sluice_context_set_counted_prompt_tokens (context, 2000, FALSE, "gpt-4.1");
  g_assert_cmpfloat_with_epsilon (sluice_budget_estimate (self, context, "openai", "gpt-4o-mini", target),
                                  (10000 * 0.15 + 500 * 0.60) / 1e6, 1e-15);
  /* New messages forget the count. */
  sluice_context_set_counted_prompt_tokens (context, 2000, FALSE, "gpt-4o-mini");
  sluice_context_set_messages (context, json_node_get_array (messages));
  g_assert_cmpint (sluice_context_get_counted_prompt_tokens (context, NULL, NULL), ==, -1);
  g_assert_cmpstr (warnings->str, ==, "");
}

/* No price: -1, one warning per model, and the request passes as free
 * (an unknown price cannot be capped) unless the cap is passed already. */
static void
test_unknown_price (void)
{
  g_autoptr(SluiceBudget) self = budget ("{\"daily_usd\": 5, \"per\": [\"label:user\"]}");
  g_autoptr(SluiceContext) context = context_for ("bob");
  gdouble estimate;

  g_string_truncate (warnings, 0);
  estimate = sluice_budget_estimate (self, context, "openai", "sluice-unpriced-model", NULL);
  g_assert_cmpfloat (estimate, ==, -1);
  g_assert_cmpfloat (sluice_budget_estimate (self, context, "openai", "sluice-unpriced-model", NULL), ==, -1);
  g_assert_cmpstr (warnings->str, ==,
                   "budget: model 'sluice-unpriced-model' of provider 'openai' has no price in the catalog: "
                   "an unknown price cannot be capped, so its requests pass the budget as if free\n");
  g_assert_cmpfloat (sluice_budget_estimate (self, context, "mistral", "sluice-unpriced-model", NULL), ==, -1);
  g_assert_cmpuint (strlen (warnings->str), >, 0);
  g_assert_nonnull (strstr (warnings->str, "of provider 'mistral'"));

  admit (self, "bob", estimate);
  admit (self, "bob", 4.00);
  admit (self, "bob", estimate);   /* at the cap, not past it */
  g_string_truncate (warnings, 0);
}

/* ---- ledgers ----------------------------------------------------------------------------- */

static void
test_missing_ledger (void)
{
  g_autofree char *path = sluice_test_write_file ("ledger.db", "");
  g_autoptr(SluiceBudget) self = NULL;
  g_autoptr(SluiceBudget) empty = NULL;
  g_autoptr(GError) error = NULL;

  /* an empty file is a database without tables: nothing spent */
  empty = budget_new ("{\"daily_usd\": 5, \"per\": [\"overall\"]}", path, &error);
  g_assert_no_error (error);
  admit (empty, "alice", 5.00);

  g_assert_cmpint (g_unlink (path), ==, 0);
  self = budget_new ("{\"daily_usd\": 5, \"per\": [\"overall\"]}", path, &error);
  g_assert_no_error (error);
  admit (self, "alice", 5.00);
  refuse (self, "alice", 0.01,
          "daily budget of $5.00 overall would be passed: $0.00 spent, $5.00 reserved by requests in flight, "
          "this request up to $0.01");
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));   /* not created */
}

static void
test_unreadable_ledger (void)
{
  g_autofree char *path = sluice_test_write_file ("ledger.db", "this is not an SQLite database, not at all......"
                                                               "................................................");
  g_autofree char *expected = g_strdup_printf ("budget: cannot read the ledger %s: file is not a database", path);
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceBudget) self = budget_new ("{\"daily_usd\": 5}", path, &error);

  g_assert_null (self);
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, expected);
}

/* With no `ledger`, the sqlite sink's default: ledger.db in the state folder. */
static void
test_default_ledger (void)
{
  g_autofree char *path = sluice_get_default_ledger_path ();
  g_autofree char *expected = g_build_filename (g_getenv ("SLUICE_STATE_DIR"), "ledger.db", NULL);
  g_autoptr(JsonNode) node = json_from_string ("{\"daily_usd\": 5}", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceBudget) self = NULL;

  g_assert_nonnull (g_getenv ("SLUICE_STATE_DIR"));
  g_assert_cmpstr (path, ==, expected);
  self = sluice_budget_new (json_node_get_object (node), "p", &error);
  g_assert_no_error (error);
  g_assert_nonnull (self);
}

/* ---- configuration ----------------------------------------------------------------------- */

static void
test_bad_config (void)
{
  static const struct { const char *block; const char *message; } cases[] = {
    { "{\"per\": [\"overall\"]}", "budget: give a cap: daily_usd, monthly_usd or both" },
    { "{}", "budget: give a cap: daily_usd, monthly_usd or both" },
    { "{\"daily_usd\": -5}", "budget: 'daily_usd' must be a number of US dollars above 0, not -5" },
    { "{\"monthly_usd\": 0}", "budget: 'monthly_usd' must be a number of US dollars above 0, not 0" },
    { "{\"daily_usd\": \"5\"}", "budget: 'daily_usd' must be a number of US dollars above 0" },
    { "{\"daily_usd\": 5, \"per\": [\"team\"]}",
      "budget: unknown scope 'team' in 'per' (overall, pipeline, or label:NAME)" },
    { "{\"daily_usd\": 5, \"per\": [\"label:\"]}",
      "budget: scope 'label:' in 'per': a label name is letters, digits, '_' and '-'" },
    { "{\"daily_usd\": 5, \"per\": [\"label:a\\\"b\"]}",
      "budget: scope 'label:a\"b' in 'per': a label name is letters, digits, '_' and '-'" },
    { "{\"daily_usd\": 5, \"per\": []}", "budget: 'per' must be a list of scopes: overall, pipeline, label:NAME" },
    { "{\"daily_usd\": 5, \"per\": \"overall\"}",
      "budget: 'per' must be a list of scopes: overall, pipeline, label:NAME" },
    { "{\"daily_usd\": 5, \"weekly_usd\": 9}",
      "budget: unknown member 'weekly_usd' (known: daily_usd, monthly_usd, per, ledger, estimate_completion_tokens)" },
    { "{\"daily_usd\": 5, \"estimate_completion_tokens\": -1}",
      "budget: 'estimate_completion_tokens' must be a whole number of tokens, 0 or more" },
    { "{\"daily_usd\": 5, \"estimate_completion_tokens\": \"many\"}",
      "budget: 'estimate_completion_tokens' must be a whole number of tokens, 0 or more" },
    { "{\"daily_usd\": 5, \"ledger\": 3}", "budget: 'ledger' must be the path of the SQLite ledger" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(SluiceBudget) self = budget_new (cases[i].block, NULL, &error);

      g_test_message ("%s", cases[i].block);
      g_assert_null (self);
      g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG);
      g_assert_cmpstr (error->message, ==, cases[i].message);
    }
}

typedef struct
{
  const char *path;
  GTestFunc   func;
} Test;

/* Every test starts at 2026-03-15 12:00 UTC. */
static void
run_test (gconstpointer data)
{
  const Test *test = data;

  set_now ("2026-03-15T12:00:00Z");
  g_string_truncate (messages, 0);
  test->func ();
}

int
main (int   argc,
      char *argv[])
{
  static const Test tests[] = {
    { "/budget/daily", test_daily },
    { "/budget/monthly", test_monthly },
    { "/budget/daily-and-monthly", test_daily_and_monthly },
    { "/budget/labels-independent", test_labels_independent },
    { "/budget/overall", test_overall },
    { "/budget/pipeline-and-several-scopes", test_pipeline_and_several_scopes },
    { "/budget/settle", test_settle },
    { "/budget/concurrent", test_concurrent },
    { "/budget/rollover", test_rollover },
    { "/budget/estimate", test_estimate },
    { "/budget/unknown-price", test_unknown_price },
    { "/budget/missing-ledger", test_missing_ledger },
    { "/budget/unreadable-ledger", test_unreadable_ledger },
    { "/budget/default-ledger", test_default_ledger },
    { "/budget/bad-config", test_bad_config },
  };
  int status;

  g_test_init (&argc, &argv, NULL);
  warnings = g_string_new (NULL);
  messages = g_string_new (NULL);
  g_log_set_writer_func (writer, NULL, NULL);
  ledger = write_ledger ();
  for (guint i = 0; i < G_N_ELEMENTS (tests); i++)
    g_test_add_data_func (tests[i].path, &tests[i], run_test);
  status = g_test_run ();
  g_free (ledger);
  g_string_free (warnings, TRUE);
  g_string_free (messages, TRUE);
  return status;
}
