/* test-report.c — `sluice report` end to end: every figure from a ledger
 * built here with known rows (the sqlite sink's schema, plus the
 * `cache_hit` column and `events` table of the same issue), in text, JSON
 * and CSV; groups, time filters, SLOs and exit codes; bad input; and a
 * ledger written by a real run against sluice-mock.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-util.h"

#include <glib/gstdio.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* ---- running the CLI ------------------------------------------------------------ */

typedef struct
{
  int   status;
  char *out;
  char *err;
} Result;

static void
result_free (Result *result)
{
  g_free (result->out);
  g_free (result->err);
  g_free (result);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Result, result_free)

/* Under the build tree's test-state folder when there is one (as
 * test-cli does): tools/run-tests clears it, a failed case's stays. */
static char *
temp_dir (void)
{
  g_autoptr(GError) error = NULL;
  const char *base = g_getenv ("SLUICE_STATE_DIR");
  char *dir;

  if (base == NULL)
    {
      dir = g_dir_make_tmp ("sluice-report-XXXXXX", &error);
      g_assert_no_error (error);
      return dir;
    }
  g_assert_cmpint (g_mkdir_with_parents (base, 0700), ==, 0);
  dir = g_build_filename (base, "report-XXXXXX", NULL);
  g_assert_nonnull (g_mkdtemp (dir));
  return dir;
}

/* Runs `sluice ARGV…` with its own state folder (and the mock's URL). */
static Result *
run_cli_v (const char         *state_dir,
           const char         *base_url,
           const char * const *args)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  Result *result = g_new0 (Result, 1);

  g_ptr_array_add (argv, (gpointer) g_getenv ("SLUICE_CLI"));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  g_subprocess_launcher_setenv (launcher, "SLUICE_STATE_DIR", state_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "SLUICE_API_KEY", "sk-test-report-key", TRUE);
  g_subprocess_launcher_setenv (launcher, "SLUICE_BASE_URL", base_url != NULL ? base_url : "http://127.0.0.1:9/v1", TRUE);
  g_subprocess_launcher_unsetenv (launcher, "SLUICE_MODEL");
  g_subprocess_launcher_unsetenv (launcher, "SLUICE_PROVIDER");
  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &result->out, &result->err, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (process));
  result->status = g_subprocess_get_exit_status (process);
  g_assert_null (strstr (result->err, "CRITICAL"));
  g_assert_null (strstr (result->err, "WARNING"));
  g_assert_null (strstr (result->err, "Sanitizer"));
  g_assert_null (strstr (result->err, "runtime error:"));
  return result;
}

#define run_report(state, ...) run_cli_v ((state), NULL, (const char * const []) { "report", __VA_ARGS__, NULL })

static JsonObject *
parse_object (const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = json_from_string (text, &error);

  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  return json_object_ref (json_node_get_object (node));
}

static char *write_text (const char *dir, const char *name, const char *text);

/* ---- the known ledger ------------------------------------------------------------ */

static void
db_exec (sqlite3    *db,
         const char *sql)
{
  char *message = NULL;

  if (sqlite3_exec (db, sql, NULL, NULL, &message) != SQLITE_OK)
    g_error ("%s: %s", sql, message);
}

/* The sqlite sink's tables as it creates them today. */
static const char schema_sql[] =
  "CREATE TABLE attempts (id INTEGER PRIMARY KEY, time TEXT NOT NULL, request_id TEXT NOT NULL, job_id TEXT,"
  " pipeline TEXT, attempt INTEGER, provider TEXT, model TEXT, outcome TEXT NOT NULL, error_kind TEXT,"
  " http_status INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, cost_usd REAL, latency_ms INTEGER,"
  " delay_ms INTEGER, labels TEXT);"
  "CREATE TABLE requests (request_id TEXT PRIMARY KEY, time TEXT NOT NULL, job_id TEXT, pipeline TEXT,"
  " outcome TEXT NOT NULL, error_kind TEXT, error_stage TEXT, attempts INTEGER NOT NULL, prompt_tokens INTEGER,"
  " completion_tokens INTEGER, cost_usd REAL, latency_ms INTEGER, labels TEXT);";
static const char added_sql[] =
  "ALTER TABLE attempts ADD COLUMN cached_tokens INTEGER; ALTER TABLE attempts ADD COLUMN reasoning_tokens INTEGER;"
  "ALTER TABLE attempts ADD COLUMN ttft_ms REAL; ALTER TABLE attempts ADD COLUMN target TEXT;"
  "ALTER TABLE attempts ADD COLUMN target_index INTEGER; ALTER TABLE attempts ADD COLUMN wasted INTEGER;"
  "ALTER TABLE requests ADD COLUMN compliance TEXT; ALTER TABLE requests ADD COLUMN target TEXT;"
  "ALTER TABLE requests ADD COLUMN cache_hit INTEGER;"
  "CREATE TABLE events (id INTEGER PRIMARY KEY, time TEXT NOT NULL, event TEXT NOT NULL, target TEXT,"
  " pipeline TEXT, request_id TEXT, detail TEXT, labels TEXT);";

/* Six requests over two days. R2 fell back from m1 (timeout) to m2; R3
 * failed rate-limited twice; R4's cost is unknown; R5 came from the cache;
 * R6's answer failed validation (its tokens wasted). */
static const char rows_sql[] =
  "INSERT INTO requests (request_id, time, pipeline, outcome, error_kind, attempts, prompt_tokens,"
  " completion_tokens, cost_usd, latency_ms, labels, compliance, target, cache_hit) VALUES"
  " ('R1', '2026-11-01T10:00:00.000Z', 'alpha', 'ok', NULL, 1, 100, 20, 0.001, 100,"
  "  '{\"user\":\"ann\",\"endpoint\":\"/a\",\"session\":\"s1\"}', 'valid_first_try', 'p1/m1', 0),"
  " ('R2', '2026-11-01T11:00:00.000Z', 'alpha', 'ok', NULL, 2, 200, 40, 0.003, 300,"
  "  '{\"user\":\"bob\",\"endpoint\":\"/a\",\"session\":\"s1\"}', 'valid_after_correction', 'p2/m2', 0),"
  " ('R3', '2026-11-01T12:00:00.000Z', 'beta', 'error', 'rate_limited', 2, 0, 0, 0.0, 500,"
  "  '{\"user\":\"ann\"}', NULL, NULL, NULL),"
  " ('R4', '2026-11-02T09:00:00.000Z', 'beta', 'ok', NULL, 1, 50, 10, NULL, 200,"
  "  '{\"user\":\"bob\",\"session\":\"s2\"}', 'valid_after_repair', 'p1/m1', 0),"
  " ('R5', '2026-11-02T10:00:00.000Z', 'alpha', 'ok', NULL, 0, 0, 0, 0.0, 10,"
  "  '{\"user\":\"ann\",\"endpoint\":\"/b\"}', 'valid_first_try', NULL, 1),"
  " ('R6', '2026-11-02T11:00:00.000Z', 'alpha', 'error', 'validation', 1, 30, 30, 0.002, 400,"
  "  '{}', 'invalid', 'p1/m1', 0);"
  "INSERT INTO attempts (time, request_id, pipeline, attempt, provider, model, outcome, error_kind,"
  " prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, ttft_ms, target, target_index, wasted) VALUES"
  " ('2026-11-01T10:00:00.000Z', 'R1', 'alpha', 0, 'p1', 'm1', 'ok', NULL, 100, 20, 10, 5, 40, 'p1/m1', 0, 0),"
  " ('2026-11-01T11:00:00.000Z', 'R2', 'alpha', 0, 'p1', 'm1', 'error', 'timeout', NULL, NULL, NULL, NULL, NULL, 'p1/m1', 0, 0),"
  " ('2026-11-01T11:00:01.000Z', 'R2', 'alpha', 1, 'p2', 'm2', 'ok', NULL, 200, 40, 20, NULL, 60.5, 'p2/m2', 1, 0),"
  " ('2026-11-01T12:00:00.000Z', 'R3', 'beta', 0, 'p1', 'm1', 'error', 'rate_limited', NULL, NULL, NULL, NULL, NULL, 'p1/m1', 0, 0),"
  " ('2026-11-01T12:00:01.000Z', 'R3', 'beta', 1, 'p1', 'm1', 'error', 'rate_limited', NULL, NULL, NULL, NULL, NULL, 'p1/m1', 0, 0),"
  " ('2026-11-02T09:00:00.000Z', 'R4', 'beta', 0, 'p1', 'm1', 'ok', NULL, 50, 10, NULL, NULL, NULL, 'p1/m1', 0, 0),"
  " ('2026-11-02T11:00:00.000Z', 'R6', 'alpha', 0, 'p1', 'm1', 'ok', NULL, 30, 30, NULL, NULL, NULL, 'p1/m1', 0, 1);"
  "INSERT INTO events (time, event, target, pipeline, labels) VALUES"
  " ('2026-11-01T11:30:00.000Z', 'breaker_open', 'p1/m1', 'alpha', '{\"user\":\"ann\"}'),"
  " ('2026-11-01T11:31:00.000Z', 'breaker_half_open', 'p1/m1', 'alpha', '{\"user\":\"ann\"}'),"
  " ('2026-11-02T12:00:00.000Z', 'breaker_open', 'p1/m1', 'beta', NULL);";

static char *
write_ledger (const char *dir,
              const char *name,
              const char *sql)
{
  char *path = g_build_filename (dir, name, NULL);
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  db_exec (db, sql);
  sqlite3_close (db);
  return path;
}

static char *
known_ledger (const char *dir)
{
  g_autofree char *sql = g_strconcat (schema_sql, added_sql, rows_sql, NULL);

  return write_ledger (dir, "known.db", sql);
}

/* ---- assertions ------------------------------------------------------------------ */

static JsonNode *
at (JsonObject *object,
    const char *path)
{
  g_auto(GStrv) parts = g_strsplit (path, ".", -1);
  JsonNode *node = NULL;

  for (guint i = 0; parts[i] != NULL; i++)
    {
      g_assert_nonnull (object);
      node = json_object_get_member (object, parts[i]);
      if (node == NULL)
        g_error ("no member %s", path);
      object = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
    }
  return node;
}

static void
assert_int (JsonObject *object, const char *path, gint64 expected)
{
  JsonNode *node = at (object, path);

  g_test_message ("%s", path);
  g_assert_true (JSON_NODE_HOLDS_VALUE (node));
  g_assert_cmpint (json_node_get_value_type (node), ==, G_TYPE_INT64);
  g_assert_cmpint (json_node_get_int (node), ==, expected);
}

static void
assert_num (JsonObject *object, const char *path, gdouble expected)
{
  JsonNode *node = at (object, path);

  g_test_message ("%s", path);
  g_assert_true (JSON_NODE_HOLDS_VALUE (node));
  g_assert_cmpfloat_with_epsilon (json_node_get_double (node), expected, 1e-12 * MAX (1.0, fabs (expected)));
}

static void
assert_null (JsonObject *object, const char *path)
{
  g_test_message ("%s", path);
  g_assert_true (JSON_NODE_HOLDS_NULL (at (object, path)));
}

static void
assert_str (JsonObject *object, const char *path, const char *expected)
{
  g_test_message ("%s", path);
  g_assert_cmpstr (json_node_get_string (at (object, path)), ==, expected);
}

/* ---- the figures ------------------------------------------------------------------ */

static void
assert_known_totals (JsonObject *t)
{
  assert_int (t, "requests", 6);
  assert_int (t, "succeeded", 4);
  assert_int (t, "failed", 2);
  assert_num (t, "error_rate", 2.0 / 6);
  assert_int (t, "errors_by_kind.rate_limited", 1);
  assert_int (t, "errors_by_kind.validation", 1);
  g_assert_cmpuint (json_object_get_size (json_object_get_object_member (t, "errors_by_kind")), ==, 2);
  assert_num (t, "timeout_rate", 1.0 / 7);
  assert_int (t, "breaker_trips", 2);
  assert_num (t, "fallback_share", 1.0 / 3);
  assert_num (t, "retries_per_success", (7.0 - 5) / 4);
  assert_int (t, "attempts", 7);
  assert_num (t, "waste_ratio", 60.0 / 480);
  assert_int (t, "latency_ms.p50", 100);
  assert_int (t, "latency_ms.p95", 300);
  assert_int (t, "latency_ms.p99", 300);
  assert_int (t, "ttft_ms.p50", 40);
  assert_num (t, "ttft_ms.p95", 60.5);
  assert_num (t, "ttft_ms.p99", 60.5);
  assert_int (t, "prompt_tokens", 380);
  assert_int (t, "completion_tokens", 100);
  assert_int (t, "cached_tokens", 30);
  assert_int (t, "reasoning_tokens", 5);
  assert_num (t, "cost_usd", 0.006);
  assert_int (t, "cost_unknown_requests", 1);
  assert_num (t, "cost_per_request", 0.006 / 5);
  assert_int (t, "sessions", 2);
  assert_num (t, "cost_per_session", 0.004);   /* s2 holds R4, of unknown cost: left out */
  assert_int (t, "cache_hits", 1);
  assert_num (t, "cache_hit_rate", 1.0 / 5);
  assert_int (t, "compliance.valid_first_try", 2);
  assert_int (t, "compliance.valid_after_correction", 1);
  assert_int (t, "compliance.valid_after_repair", 1);
  assert_int (t, "compliance.invalid", 1);
  assert_num (t, "compliance.rate", 4.0 / 5);
}

static void
test_json_figures (void)
{
  g_autofree char *dir = temp_dir ();
  g_autofree char *ledger = known_ledger (dir);
  g_autoptr(Result) result = run_report (dir, "--ledger", ledger, "--json", "--group-by", "model");
  g_autoptr(JsonObject) report = NULL;
  JsonArray *groups, *daily, *latency, *served;
  JsonObject *g;

  g_assert_cmpint (result->status, ==, 0);
  g_assert_cmpstr (result->err, ==, "");
  report = parse_object (result->out);
  assert_str (report, "ledger", ledger);
  assert_null (report, "since");
  assert_null (report, "until");
  assert_str (report, "group_by", "model");
  assert_null (report, "slo");
  assert_known_totals (json_object_get_object_member (report, "totals"));

  /* A request belongs to the model that answered it (R2: m2, after m1
   * timed out), else its last attempt's; R5 (cache) has none. */
  groups = json_object_get_array_member (report, "groups");
  g_assert_cmpuint (json_array_get_length (groups), ==, 3);
  g = json_array_get_object_element (groups, 0);
  assert_str (g, "key", "m1");
  assert_int (g, "requests", 4);
  assert_int (g, "succeeded", 2);
  assert_num (g, "error_rate", 0.5);
  assert_int (g, "attempts", 5);
  assert_num (g, "timeout_rate", 0.0);
  assert_int (g, "breaker_trips", 2);
  assert_num (g, "fallback_share", 0.0);
  assert_num (g, "retries_per_success", 0.5);
  assert_num (g, "waste_ratio", 0.25);
  assert_int (g, "latency_ms.p50", 100);
  assert_int (g, "latency_ms.p95", 200);
  assert_num (g, "cost_usd", 0.003);
  assert_int (g, "cost_unknown_requests", 1);
  assert_num (g, "cost_per_request", 0.001);
  g = json_array_get_object_element (groups, 1);
  assert_str (g, "key", "(cache)");   /* R5, a cache hit: no model made it */
  assert_int (g, "requests", 1);
  assert_int (g, "attempts", 0);
  assert_null (g, "timeout_rate");
  assert_null (g, "fallback_share");
  assert_null (g, "waste_ratio");
  assert_num (g, "retries_per_success", 0.0);
  assert_null (g, "ttft_ms.p50");
  assert_int (g, "cache_hits", 1);
  g = json_array_get_object_element (groups, 2);
  assert_str (g, "key", "m2");
  assert_int (g, "attempts", 2);
  assert_num (g, "timeout_rate", 0.5);
  assert_num (g, "fallback_share", 1.0);
  assert_num (g, "retries_per_success", 1.0);
  assert_num (g, "waste_ratio", 0.0);
  assert_int (g, "breaker_trips", 0);

  daily = json_object_get_array_member (report, "daily");
  g_assert_cmpuint (json_array_get_length (daily), ==, 4);
  g = json_array_get_object_element (daily, 0);
  assert_str (g, "day", "2026-11-01");
  assert_str (g, "model", "m1");
  assert_int (g, "requests", 2);
  assert_num (g, "cost_usd", 0.001);
  assert_int (g, "prompt_tokens", 100);
  assert_int (g, "completion_tokens", 20);
  g = json_array_get_object_element (daily, 1);
  assert_str (g, "model", "m2");
  assert_num (g, "cost_usd", 0.003);
  g = json_array_get_object_element (daily, 2);
  assert_str (g, "day", "2026-11-02");
  assert_str (g, "model", "(cache)");
  assert_num (g, "cost_usd", 0.0);
  g = json_array_get_object_element (daily, 3);
  assert_str (g, "model", "m1");
  assert_int (g, "requests", 2);
  assert_num (g, "cost_usd", 0.002);   /* R4's unknown cost is not summed as 0: it is left out */
  assert_int (g, "prompt_tokens", 80);
  assert_int (g, "completion_tokens", 40);

  latency = json_object_get_array_member (report, "latency_daily");
  g_assert_cmpuint (json_array_get_length (latency), ==, 2);
  g = json_array_get_object_element (latency, 0);
  assert_str (g, "day", "2026-11-01");
  assert_int (g, "p50_ms", 100);
  assert_int (g, "p95_ms", 300);
  assert_int (g, "p99_ms", 300);
  assert_int (g, "ttft_p50_ms", 40);
  g = json_array_get_object_element (latency, 1);
  assert_int (g, "p50_ms", 10);
  assert_int (g, "p95_ms", 200);
  assert_null (g, "ttft_p50_ms");

  assert_int (report, "error_kinds.rate_limited", 2);
  assert_int (report, "error_kinds.timeout", 1);
  g_assert_cmpuint (json_object_get_size (json_object_get_object_member (report, "error_kinds")), ==, 2);

  served = json_object_get_array_member (report, "served_by");
  g_assert_cmpuint (json_array_get_length (served), ==, 2);
  g = json_array_get_object_element (served, 0);
  assert_str (g, "target", "p1/m1");
  assert_int (g, "requests", 2);
  assert_num (g, "share", 2.0 / 3);
  g = json_array_get_object_element (served, 1);
  assert_str (g, "target", "p2/m2");
  assert_num (g, "share", 1.0 / 3);
}

static void
test_groups (void)
{
  g_autofree char *dir = temp_dir ();
  g_autofree char *ledger = known_ledger (dir);
  static const struct { const char *by; const char *keys; const char *requests; const char *trips; } cases[] = {
    { "provider", "p1,(cache),p2", "4,1,1", "2,0,0" },   /* equal counts: by key */
    { "pipeline", "alpha,beta", "4,2", "1,1" },
    { "endpoint", "(none),/a,/b", "3,2,1", "2,0,0" },
    { "user", "ann,bob,(none)", "3,2,1", "1,0,1" },
    { "day", "2026-11-01,2026-11-02", "3,3", "1,1" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(Result) result = run_report (dir, "--ledger", ledger, "--json", "--group-by", cases[i].by);
      g_autoptr(JsonObject) report = parse_object (result->out);
      JsonArray *groups = json_object_get_array_member (report, "groups");
      g_autoptr(GString) keys = g_string_new (NULL);
      g_autoptr(GString) requests = g_string_new (NULL);
      g_autoptr(GString) trips = g_string_new (NULL);

      g_assert_cmpint (result->status, ==, 0);
      for (guint j = 0; j < json_array_get_length (groups); j++)
        {
          JsonObject *g = json_array_get_object_element (groups, j);
          const char *sep = j > 0 ? "," : "";

          g_string_append_printf (keys, "%s%s", sep, json_object_get_null_member (g, "key")
                                                       ? "(none)" : json_object_get_string_member (g, "key"));
          g_string_append_printf (requests, "%s%" G_GINT64_FORMAT, sep, json_object_get_int_member (g, "requests"));
          g_string_append_printf (trips, "%s%" G_GINT64_FORMAT, sep, json_object_get_int_member (g, "breaker_trips"));
        }
      g_test_message ("--group-by %s", cases[i].by);
      g_assert_cmpstr (keys->str, ==, cases[i].keys);
      g_assert_cmpstr (requests->str, ==, cases[i].requests);
      g_assert_cmpstr (trips->str, ==, cases[i].trips);
    }
}

static void
test_time_filters (void)
{
  g_autofree char *dir = temp_dir ();
  g_autofree char *ledger = known_ledger (dir);
  g_autoptr(Result) day2 = run_report (dir, "--ledger", ledger, "--json", "--since", "2026-11-02");
  g_autoptr(Result) day1 = run_report (dir, "--ledger", ledger, "--json", "--until", "2026-11-02T00:00:00Z");
  g_autoptr(Result) hour = run_report (dir, "--ledger", ledger, "--json", "--since", "2026-11-01T11:00:00Z",
                                       "--until", "2026-11-01T12:00:00Z");
  /* The rows are from November; a week back from now (December) is empty. */
  g_autoptr(Result) recent = run_report (dir, "--ledger", ledger, "--json", "--since", "7d", "--group-by", "user");
  g_autoptr(JsonObject) r2 = parse_object (day2->out);
  g_autoptr(JsonObject) r1 = parse_object (day1->out);
  g_autoptr(JsonObject) rh = parse_object (hour->out);
  g_autoptr(JsonObject) rr = parse_object (recent->out);
  JsonObject *t;

  assert_str (r2, "since", "2026-11-02T00:00:00.000Z");
  t = json_object_get_object_member (r2, "totals");
  assert_int (t, "requests", 3);
  assert_int (t, "succeeded", 2);
  assert_int (t, "attempts", 2);
  assert_int (t, "breaker_trips", 1);
  assert_int (t, "errors_by_kind.validation", 1);
  assert_num (t, "cost_usd", 0.002);
  assert_int (t, "cost_unknown_requests", 1);
  g_assert_cmpuint (json_object_get_size (json_object_get_object_member (r2, "error_kinds")), ==, 0);

  assert_str (r1, "until", "2026-11-02T00:00:00.000Z");
  t = json_object_get_object_member (r1, "totals");
  assert_int (t, "requests", 3);
  assert_int (t, "attempts", 5);
  assert_int (t, "breaker_trips", 1);
  assert_int (r1, "error_kinds.rate_limited", 2);
  assert_int (r1, "error_kinds.timeout", 1);

  /* since is included, until is not */
  t = json_object_get_object_member (rh, "totals");
  assert_int (t, "requests", 1);
  assert_int (t, "attempts", 2);
  assert_num (t, "fallback_share", 1.0);

  g_assert_cmpint (recent->status, ==, 0);
  t = json_object_get_object_member (rr, "totals");
  assert_int (t, "requests", 0);
  assert_int (t, "attempts", 0);
  assert_null (t, "error_rate");
  assert_null (t, "timeout_rate");
  assert_null (t, "retries_per_success");
  assert_null (t, "waste_ratio");
  assert_null (t, "latency_ms.p50");
  assert_null (t, "ttft_ms.p99");
  assert_num (t, "cost_usd", 0.0);
  assert_null (t, "cost_per_request");
  assert_null (t, "cache_hit_rate");
  assert_null (t, "compliance.rate");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (rr, "groups")), ==, 0);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (rr, "daily")), ==, 0);
}

/* The value after a figure's name in the text totals. */
static char *
text_value (const char *out,
            const char *label)
{
  g_autofree char *prefix = g_strdup_printf ("\n  %s  ", label);
  const char *start = strstr (out, prefix);
  const char *end;

  if (start == NULL)
    g_error ("no line '%s' in:\n%s", label, out);
  start += strlen (prefix);
  end = strchr (start, '\n');
  return g_strstrip (g_strndup (start, end - start));
}

/* The first table row of the text output that starts with @first (its
 * cells joined by single spaces), its cells joined by single spaces. */
static char *
text_row (const char *out,
          const char *first)
{
  g_auto(GStrv) lines = g_strsplit (out, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) cells = g_strsplit (lines[i], " ", -1);
      g_autoptr(GStrvBuilder) kept = g_strv_builder_new ();
      g_auto(GStrv) joined = NULL;
      g_autofree char *row = NULL;

      for (guint c = 0; cells[c] != NULL; c++)
        if (cells[c][0] != '\0')
          g_strv_builder_add (kept, cells[c]);
      joined = g_strv_builder_end (kept);
      row = g_strjoinv (" ", joined);
      if (g_str_has_prefix (row, first) && (row[strlen (first)] == ' ' || row[strlen (first)] == '\0'))
        return g_steal_pointer (&row);
    }
  g_error ("no row '%s' in:\n%s", first, out);
}

#define assert_text(out, label, expected) G_STMT_START { \
    g_autofree char *value_ = text_value ((out), (label)); \
    g_assert_cmpstr (value_, ==, (expected)); \
  } G_STMT_END
#define assert_row(out, first, expected) G_STMT_START { \
    g_autofree char *row_ = text_row ((out), (first)); \
    g_assert_cmpstr (row_, ==, (expected)); \
  } G_STMT_END

static void
test_text (void)
{
  g_autofree char *dir = temp_dir ();
  g_autofree char *ledger = known_ledger (dir);
  g_autoptr(Result) result = run_report (dir, "--ledger", ledger, "--group-by", "pipeline");
  const char *out = result->out;

  g_assert_cmpint (result->status, ==, 0);
  assert_text (out, "requests", "6");
  assert_text (out, "succeeded / failed", "4 / 2");
  assert_text (out, "error rate", "33.3%");
  assert_text (out, "failed requests by kind", "rate_limited 1, validation 1");
  assert_text (out, "timeout rate (attempts)", "14.3%");
  assert_text (out, "circuit-breaker trips", "2");
  assert_text (out, "fallback share", "33.3%");
  assert_text (out, "attempts", "7");
  assert_text (out, "retries per success", "0.50");
  assert_text (out, "token waste ratio", "12.5%");
  assert_text (out, "latency p50 / p95 / p99 (ms)", "100 / 300 / 300");
  assert_text (out, "TTFT p50 / p95 / p99 (ms)", "40 / 60.5 / 60.5");
  assert_text (out, "tokens prompt / completion", "380 / 100");
  assert_text (out, "tokens cached / reasoning", "30 / 5");
  assert_text (out, "cost", "$0.006000 (+ 1 requests of unknown cost)");
  assert_text (out, "cost per request", "$0.001200");
  assert_text (out, "sessions", "2");
  assert_text (out, "cost per session", "$0.004000");
  assert_text (out, "cache hits (hit rate)", "1 (20.0%)");
  assert_text (out, "format compliance", "80.0% valid (first try / after correction / after repair: 2 / 1 / 1; invalid: 1)");

  sluice_test_assert_contains (out, "\nBy pipeline\n");
  assert_row (out, "alpha", "alpha 4 25.0% 25.0% 1 50.0% 0.33 14.3% 100 300 300 40 330 90 $0.006000 0 $0.001500 25.0% 75.0%");
  assert_row (out, "beta", "beta 2 50.0% 0.0% 1 0.0% 1.00 0.0% 200 200 200 – 50 10 $0.000000 1 $0.000000 0.0% 100.0%");
  assert_row (out, "2026-11-01 m1", "2026-11-01 m1 2 $0.001000 100 20");
  assert_row (out, "2026-11-02 (cache)", "2026-11-02 (cache) 1 $0.000000 0 0");
  assert_row (out, "2026-11-02 m1", "2026-11-02 m1 2 $0.002000 80 40");
  assert_row (out, "2026-11-01 100", "2026-11-01 100 300 300 40");
  assert_row (out, "2026-11-02 10", "2026-11-02 10 200 200 –");
  assert_row (out, "rate_limited", "rate_limited 2");
  assert_row (out, "timeout 1", "timeout 1");
  assert_row (out, "p1/m1", "p1/m1 2 66.7%");
  assert_row (out, "p2/m2", "p2/m2 1 33.3%");
}

/* A label is anyone's data: its control characters (a terminal escape,
 * a newline that would break the table) are not printed as they are. */
static void
test_text_controls (void)
{
  g_autofree char *dir = temp_dir ();
  g_autofree char *ledger = known_ledger (dir);
  g_autoptr(Result) result = NULL;
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open (ledger, &db), ==, SQLITE_OK);
  db_exec (db, "UPDATE requests SET labels = '{\"user\": \"esc\\u001b]0;pwned\\u0007\\u001b[2Jx\\nnext\"}'"
               " WHERE request_id = 'R6'");
  sqlite3_close (db);
  result = run_report (dir, "--ledger", ledger, "--group-by", "user");
  g_assert_cmpint (result->status, ==, 0);
  g_assert_null (strchr (result->out, '\x1b'));
  g_assert_null (strchr (result->out, '\x07'));
  sluice_test_assert_contains (result->out, "  esc\xef\xbf\xbd]0;pwned\xef\xbf\xbd\xef\xbf\xbd[2Jx\xef\xbf\xbdnext ");
}

/* Requests whose every cost is unknown cost "unknown", not $0: R4 alone. */
static void
test_all_costs_unknown (void)
{
  g_autofree char *dir = temp_dir ();
  g_autofree char *ledger = known_ledger (dir);
  g_autoptr(Result) result = run_report (dir, "--ledger", ledger, "--json", "--group-by", "model",
                                         "--since", "2026-11-02T09:00:00Z", "--until", "2026-11-02T09:30:00Z");
  g_autoptr(JsonObject) report = NULL;
  JsonObject *t;

  g_assert_cmpint (result->status, ==, 0);
  report = parse_object (result->out);
  t = json_object_get_object_member (report, "totals");
  assert_int (t, "requests", 1);
  assert_null (t, "cost_usd");
  assert_int (t, "cost_unknown_requests", 1);
  assert_null (json_array_get_object_element (json_object_get_array_member (report, "groups"), 0), "cost_usd");

  /* A daily-cost objective over R4 alone has nothing to measure. */
  {
    g_autofree char *slo_path = write_text (dir, "cost.yaml", "window: 1h\nobjectives:\n  - daily_cost: $0.01\n");
    g_autoptr(Result) slo_run = run_report (dir, "--ledger", ledger, "--json", "--slo", slo_path,
                                            "--until", "2026-11-02T09:30:00Z");
    g_autoptr(JsonObject) slo_report = NULL;
    JsonObject *o;

    g_assert_cmpint (slo_run->status, ==, 0);
    slo_report = parse_object (slo_run->out);
    o = json_array_get_object_element (json_object_get_array_member (
          json_object_get_object_member (slo_report, "slo"), "objectives"), 0);
    assert_str (o, "status", "no_data");
    assert_null (o, "actual");
    assert_int (o, "cost_unknown_requests", 1);
  }
}

/* --html writes the page the renderer makes of the same model: the
 * known ledger's figures and one chart per kind; nothing on stdout. */
static void
test_html (void)
{
  g_autofree char *dir = temp_dir ();
  g_autofree char *ledger = known_ledger (dir);
  g_autofree char *page_path = g_build_filename (dir, "report.html", NULL);
  g_autofree char *bad_path = g_build_filename (dir, "no-such-folder", "report.html", NULL);
  g_autoptr(Result) result = run_report (dir, "--ledger", ledger, "--html", page_path, "--group-by", "pipeline");
  g_autoptr(Result) bad = run_report (dir, "--ledger", ledger, "--html", bad_path);
  g_autofree char *page = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (result->status, ==, 0);
  g_assert_cmpstr (result->out, ==, "");
  sluice_test_assert_contains (result->err, "wrote ");
  g_assert_true (g_file_get_contents (page_path, &page, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (page, "<!DOCTYPE html>"));
  sluice_test_assert_contains (page, "Cost per day, by model");
  sluice_test_assert_contains (page, "Latency percentiles per day");
  sluice_test_assert_contains (page, "Failed attempts by error kind");
  sluice_test_assert_contains (page, "33.3%");        /* the error rate */
  sluice_test_assert_contains (page, "alpha");        /* a group row */
  g_assert_null (strstr (page, "http://"));            /* self-contained */
  g_assert_null (strstr (page, "https://"));

  g_assert_cmpint (bad->status, ==, 2);   /* 1 would read as an exhausted budget */
  sluice_test_assert_contains (bad->err, "no-such-folder");

  /* What is at the path and is not a regular file is written through,
   * never replaced: a link stays a link, a full device is an error. */
  {
    g_autofree char *target = g_build_filename (dir, "target.html", NULL);
    g_autofree char *link = g_build_filename (dir, "link.html", NULL);
    g_autoptr(Result) through = NULL;
    g_autofree char *written = NULL;
    GStatBuf info;

    g_assert_cmpint (symlink (target, link), ==, 0);
    through = run_report (dir, "--ledger", ledger, "--html", link);
    g_assert_cmpint (through->status, ==, 0);
    g_assert_cmpint (g_lstat (link, &info), ==, 0);
    g_assert_true (S_ISLNK (info.st_mode));
    g_assert_true (g_file_get_contents (target, &written, NULL, NULL));
    g_assert_true (g_str_has_prefix (written, "<!DOCTYPE html>"));
    if (access ("/dev/full", W_OK) == 0)
      {
        g_autoptr(Result) full = run_report (dir, "--ledger", ledger, "--html", "/dev/full");

        g_assert_cmpint (full->status, ==, 2);
        sluice_test_assert_contains (full->err, "/dev/full: No space left on device");
        g_assert_cmpint (g_lstat ("/dev/full", &info), ==, 0);
        g_assert_true (S_ISCHR (info.st_mode));
      }
  }
}

/* --prometheus replays the ledger's rows into the metrics sink's counters:
 * requests by pipeline and outcome, breaker events, and --since. */
static void
test_prometheus (void)
{
  g_autofree char *dir = temp_dir ();
  g_autofree char *ledger = known_ledger (dir);
  g_autoptr(Result) all = run_report (dir, "--ledger", ledger, "--prometheus");
  g_autoptr(Result) recent = run_report (dir, "--ledger", ledger, "--prometheus", "--since", "2026-11-02");
  g_autoptr(Result) mixed = run_report (dir, "--ledger", ledger, "--prometheus", "--json");

  g_assert_cmpint (all->status, ==, 0);
  sluice_test_assert_contains (all->out, "# TYPE sluice_requests_total counter\n");
  sluice_test_assert_contains (all->out, "\nsluice_requests_total{pipeline=\"alpha\",outcome=\"ok\"} 3\n");
  sluice_test_assert_contains (all->out, "\nsluice_requests_total{pipeline=\"alpha\",outcome=\"error\",error_kind=\"validation\"} 1\n");
  sluice_test_assert_contains (all->out, "\nsluice_requests_total{pipeline=\"beta\",outcome=\"error\",error_kind=\"rate_limited\"} 1\n");
  sluice_test_assert_contains (all->out, "\nsluice_events_total{event=\"breaker_open\",target=\"p1/m1\"} 2\n");

  g_assert_cmpint (recent->status, ==, 0);
  sluice_test_assert_contains (recent->out, "\nsluice_requests_total{pipeline=\"alpha\",outcome=\"ok\"} 1\n");
  sluice_test_assert_contains (recent->out, "\nsluice_events_total{event=\"breaker_open\",target=\"p1/m1\"} 1\n");
  g_assert_null (strstr (recent->out, "rate_limited"));

  g_assert_cmpint (mixed->status, ==, 2);
  sluice_test_assert_contains (mixed->err, "--prometheus takes --ledger and --since only");
}

static void
test_csv (void)
{
  g_autofree char *dir = temp_dir ();
  g_autofree char *ledger = known_ledger (dir);
  g_autoptr(Result) result = run_report (dir, "--ledger", ledger, "--csv", "--group-by", "pipeline");
  g_auto(GStrv) lines = g_strsplit (result->out, "\r\n", -1);

  g_assert_cmpint (result->status, ==, 0);
  g_assert_cmpuint (g_strv_length (lines), ==, 5);   /* header, total, alpha, beta, "" */
  g_assert_cmpstr (lines[0], ==,
    "scope,key,requests,succeeded,failed,error_rate,errors_by_kind,timeout_rate,breaker_trips,fallback_share,"
    "retries_per_success,attempts,waste_ratio,latency_ms.p50,latency_ms.p95,latency_ms.p99,ttft_ms.p50,"
    "ttft_ms.p95,ttft_ms.p99,prompt_tokens,completion_tokens,cached_tokens,reasoning_tokens,cost_usd,"
    "cost_unknown_requests,cost_per_request,sessions,cost_per_session,cache_hits,cache_hit_rate,"
    "compliance.valid_first_try,compliance.valid_after_correction,compliance.valid_after_repair,"
    "compliance.invalid,compliance.rate");
  g_assert_cmpstr (lines[1], ==,
    "total,,6,4,2,0.3333333333,rate_limited=1;validation=1,0.1428571429,2,0.3333333333,0.5,7,0.125,"
    "100,300,300,40,60.5,60.5,380,100,30,5,0.006,1,0.0012,2,0.004,1,0.2,2,1,1,1,0.8");
  g_assert_cmpstr (lines[2], ==,
    "pipeline,alpha,4,3,1,0.25,validation=1,0.25,1,0.5,0.3333333333,4,0.1428571429,"
    "100,300,300,40,60.5,60.5,330,90,30,5,0.006,0,0.0015,1,0.004,1,0.25,2,1,0,1,0.75");
  g_assert_cmpstr (lines[3], ==,
    "pipeline,beta,2,1,1,0.5,rate_limited=1,0,1,0,1,3,0,200,200,200,,,,50,10,0,0,0,1,0,1,,0,0,0,0,1,0,1");
  g_assert_cmpstr (lines[4], ==, "");
}

/* ---- SLOs ------------------------------------------------------------------------- */

static char *
write_text (const char *dir,
            const char *name,
            const char *text)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (dir, name, NULL);

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
  return path;
}

static JsonObject *
objective (JsonObject *report,
           guint       index)
{
  JsonObject *slo = json_object_get_object_member (report, "slo");

  return json_array_get_object_element (json_object_get_array_member (slo, "objectives"), index);
}

static void
test_slo (void)
{
  g_autofree char *dir = temp_dir ();
  g_autofree char *ledger = known_ledger (dir);
  g_autofree char *failing = write_text (dir, "failing.yaml",
    "objectives:\n"
    "  - availability: 99%\n"
    "  - availability: 50%\n"
    "    pipeline: alpha\n"
    "  - name: alpha-warn\n"
    "    availability: 60%\n"
    "    pipeline: alpha\n"
    "  - latency_p95: 250ms\n"
    "  - daily_cost: $1\n"
    "  - eval_pass_rate: 90%\n");
  g_autofree char *passing = write_text (dir, "passing.json",
    "{\"window\": \"7d\", \"objectives\": [{\"availability\": \"50%\", \"pipeline\": \"alpha\"},"
    " {\"daily_cost\": 1}, {\"eval_pass_rate\": \"90%\"}]}");
  /* The window ends at --until: the rows' days, whatever today is. */
  g_autoptr(Result) fail = run_report (dir, "--ledger", ledger, "--json", "--slo", failing,
                                       "--until", "2026-11-03");
  g_autoptr(Result) fail_text = run_report (dir, "--ledger", ledger, "--slo", failing, "--until", "2026-11-03");
  g_autoptr(Result) pass = run_report (dir, "--ledger", ledger, "--json", "--slo", passing, "--until", "2026-11-03");
  g_autofree char *page_path = g_build_filename (dir, "slo.html", NULL);
  g_autoptr(Result) page_run = run_report (dir, "--ledger", ledger, "--html", page_path, "--slo", failing,
                                           "--until", "2026-11-03");
  g_autofree char *page = NULL;
  g_autoptr(JsonObject) report = parse_object (fail->out);
  g_autoptr(JsonObject) passed = NULL;
  JsonObject *slo = json_object_get_object_member (report, "slo");
  JsonObject *o;

  g_assert_cmpint (fail->status, ==, 1);
  /* The page draws the same table as the text: one row per objective. */
  g_assert_cmpint (page_run->status, ==, 1);
  g_assert_true (g_file_get_contents (page_path, &page, NULL, NULL));
  sluice_test_assert_contains (page, "<th>budget used</th><th>burn 1d</th><th>burn 7d</th><th>status</th>");
  sluice_test_assert_contains (page, "<td class=\"slo-exhausted\">exhausted</td>");
  sluice_test_assert_contains (page, "<td class=\"slo-warning\">warning</td>");
  sluice_test_assert_contains (page, "eval_pass_rate: evals are not built yet");
  g_assert_null (strstr (page, "window_ms"));
  assert_int (slo, "window_days", 30);
  assert_str (slo, "window_start", "2026-10-04T00:00:00.000Z");
  assert_str (slo, "window_end", "2026-11-03T00:00:00.000Z");
  assert_int (slo, "exhausted", 2);

  o = objective (report, 0);
  assert_str (o, "objective", "availability");
  assert_null (o, "pipeline");
  assert_num (o, "target", 0.99);
  assert_num (o, "actual", 4.0 / 6);
  assert_num (o, "error_budget", 0.01);
  assert_num (o, "budget_consumed_pct", (2.0 / 6) / 0.01 * 100);
  assert_num (o, "burn_rate_1d", (1.0 / 3) / 0.01);    /* 2026-11-02: R4, R5, R6 */
  assert_num (o, "burn_rate_7d", (2.0 / 6) / 0.01);
  assert_str (o, "status", "exhausted");

  o = objective (report, 1);
  assert_str (o, "pipeline", "alpha");
  assert_int (o, "requests", 4);
  assert_num (o, "actual", 0.75);
  assert_num (o, "budget_consumed_pct", 50.0);
  assert_num (o, "burn_rate_1d", 1.0);                  /* R5 ok, R6 failed */
  assert_num (o, "burn_rate_7d", 0.5);
  assert_str (o, "status", "ok");

  o = objective (report, 2);
  assert_str (o, "name", "alpha-warn");
  assert_num (o, "budget_consumed_pct", 0.25 / 0.4 * 100);
  assert_num (o, "burn_rate_1d", 0.5 / 0.4);
  assert_str (o, "status", "warning");                  /* burning faster than the window allows */

  o = objective (report, 3);
  assert_str (o, "objective", "latency_p95");
  assert_num (o, "target", 250);
  assert_int (o, "actual", 300);
  assert_num (o, "error_budget", 0.05);
  assert_num (o, "budget_consumed_pct", 0.25 / 0.05 * 100);  /* 1 of 4 slower than 250 ms */
  assert_num (o, "burn_rate_1d", 0.0);                  /* R4 200 ms, R5 10 ms */
  assert_str (o, "status", "exhausted");

  o = objective (report, 4);
  assert_str (o, "objective", "daily_cost");
  assert_num (o, "target", 1.0);
  assert_num (o, "error_budget", 30.0);
  assert_num (o, "actual", 0.006 / 30);
  assert_num (o, "cost_usd", 0.006);
  assert_int (o, "cost_unknown_requests", 1);
  assert_num (o, "budget_consumed_pct", 0.006 / 30 * 100);
  assert_num (o, "burn_rate_1d", 0.002);
  assert_num (o, "burn_rate_7d", 0.006 / 7);
  assert_str (o, "status", "ok");

  o = objective (report, 5);
  assert_str (o, "objective", "eval_pass_rate");
  assert_str (o, "status", "not_measurable");
  sluice_test_assert_contains (json_object_get_string_member (o, "message"), "evals are not built yet");

  g_assert_cmpint (fail_text->status, ==, 1);
  assert_row (fail_text->out, "availability (all)", "availability (all) 99% 66.7% 6 3333.3% 33.33 33.33 exhausted");
  assert_row (fail_text->out, "alpha-warn", "alpha-warn alpha 60% 75.0% 4 62.5% 1.25 0.62 warning");
  assert_row (fail_text->out, "latency_p95", "latency_p95 (all) 250 ms 300 ms 4 500.0% 0.00 5.00 exhausted");
  assert_row (fail_text->out, "daily_cost", "daily_cost (all) $1.00 $0.000200 6 0.0% 0.00 0.00 ok");
  assert_row (fail_text->out, "eval_pass_rate (all)", "eval_pass_rate (all) 90% – – – – – not_measurable");
  sluice_test_assert_contains (fail_text->out, "eval_pass_rate: evals are not built yet");

  g_assert_cmpint (pass->status, ==, 0);
  passed = parse_object (pass->out);
  assert_int (json_object_get_object_member (passed, "slo"), "window_days", 7);
  assert_int (json_object_get_object_member (passed, "slo"), "exhausted", 0);
  assert_str (objective (passed, 1), "status", "ok");
}

static void
test_slo_bad_files (void)
{
  g_autofree char *dir = temp_dir ();
  g_autofree char *ledger = known_ledger (dir);
  static const struct { const char *text; const char *error; } cases[] = {
    { "objectives:\n  - availabilty: 99%\n", "bad.yaml:2:5: error: unknown member 'availabilty'; did you mean 'availability'?" },
    { "objectives:\n  - availability: 100%\n", "bad.yaml:2:5: error: availability wants a percentage below 100%" },
    { "objectives:\n  - latency_p95: fast\n", "bad.yaml:2:5: error: latency_p95 wants a duration" },
    { "objectives:\n  - daily_cost: -3\n", "bad.yaml:2:5: error: daily_cost wants dollars above 0" },
    { "window: 30x\nobjectives:\n  - daily_cost: 3\n", "bad.yaml:1:1: error: window wants a duration" },
    { "window: 100000000d\nobjectives:\n  - daily_cost: 3\n", "bad.yaml:1:1: error: window wants a duration from 1h to 3650d" },
    { "objectives: []\n", "bad.yaml:1:1: error: 'objectives' wants a list of objectives" },
    { "objectives:\n  - pipeline: a\n", "bad.yaml:2:5: error: an objective names one of" },
    { "objectives: [availability: 99%\n", "bad.yaml:2:1: error: did not find expected" },
    { "[1]\n", "bad.yaml:1:1: error: an SLO file is a mapping" },
    { "objectives:\n  - daily_cost: 3\n    pipeline: [a]\n", "bad.yaml:3:5: error: pipeline wants a pipeline's name" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = write_text (dir, "bad.yaml", cases[i].text);
      g_autoptr(Result) result = run_report (dir, "--ledger", ledger, "--slo", path);

      g_test_message ("%s", cases[i].text);
      g_assert_cmpint (result->status, ==, 2);
      g_assert_cmpstr (result->out, ==, "");
      sluice_test_assert_contains (result->err, cases[i].error);
    }
}

/* ---- bad input ------------------------------------------------------------------------ */

static void
test_bad_input (void)
{
  g_autofree char *dir = temp_dir ();
  g_autofree char *ledger = known_ledger (dir);
  g_autofree char *missing = g_build_filename (dir, "missing.db", NULL);
  g_autofree char *foreign = write_ledger (dir, "foreign.db", "CREATE TABLE requests (x TEXT);");
  static const struct { const char *args[4]; const char *error; } cases[] = {
    { { "--since", "7x" }, "--since: '7x' is neither a duration" },
    { { "--until", "yesterday" }, "--until: 'yesterday' is neither a duration" },
    { { "--since", "2026-11-02", "--until", "2026-11-01" }, "--since must come before --until" },
    { { "--group-by", "team" }, "unknown group 'team'; --group-by takes one of model, provider, pipeline, endpoint, user, day" },
    { { "--json", "--csv" }, "--json and --csv exclude each other" },
    { { "extra" }, "unexpected argument 'extra'" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *args[8] = { "report", "--ledger", ledger };

      for (guint j = 0; j < 4 && cases[i].args[j] != NULL; j++)
        args[3 + j] = cases[i].args[j];
      {
        g_autoptr(Result) result = run_cli_v (dir, NULL, args);

        g_test_message ("%s", cases[i].error);
        g_assert_cmpint (result->status, ==, 2);
        g_assert_cmpstr (result->out, ==, "");
        sluice_test_assert_contains (result->err, cases[i].error);
      }
    }

  {
    g_autoptr(Result) result = run_report (dir, "--ledger", missing);

    g_assert_cmpint (result->status, ==, 2);
    g_assert_cmpstr (result->out, ==, "");
    sluice_test_assert_contains (result->err, "no ledger at ");
    g_assert_false (g_file_test (missing, G_FILE_TEST_EXISTS));   /* not created */
  }
  {
    g_autoptr(Result) result = run_report (dir, "--ledger", foreign);

    g_assert_cmpint (result->status, ==, 2);
    sluice_test_assert_contains (result->err, "is not a sluice ledger: it has no column requests.request_id");
  }
  {
    /* Default: the sqlite sink's ledger in SLUICE_STATE_DIR, which is empty here. */
    g_autoptr(Result) result = run_report (dir, "--json");
    g_autofree char *expected = g_build_filename (dir, "ledger.db", NULL);

    g_assert_cmpint (result->status, ==, 2);
    sluice_test_assert_contains (result->err, expected);
  }
}

/* A ledger from before the newer columns (no compliance, wasted, TTFT,
 * target, cache_hit, events) and one with no rows at all: the figures
 * that need what is missing are null, never 0 and never an error. */
static void
test_old_and_empty_ledgers (void)
{
  g_autofree char *dir = temp_dir ();
  g_autofree char *old = write_ledger (dir, "old.db",
    "CREATE TABLE attempts (id INTEGER PRIMARY KEY, time TEXT NOT NULL, request_id TEXT NOT NULL, job_id TEXT,"
    " pipeline TEXT, attempt INTEGER, provider TEXT, model TEXT, outcome TEXT NOT NULL, error_kind TEXT,"
    " http_status INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, cost_usd REAL, latency_ms INTEGER,"
    " delay_ms INTEGER, labels TEXT);"
    "CREATE TABLE requests (request_id TEXT PRIMARY KEY, time TEXT NOT NULL, job_id TEXT, pipeline TEXT,"
    " outcome TEXT NOT NULL, error_kind TEXT, error_stage TEXT, attempts INTEGER NOT NULL, prompt_tokens INTEGER,"
    " completion_tokens INTEGER, cost_usd REAL, latency_ms INTEGER, labels TEXT);"
    "INSERT INTO requests VALUES ('a', '2026-11-01T10:00:00.000Z', NULL, 'p', 'ok', NULL, NULL, 1, 10, 5, 0.5, 70, '{}');"
    "INSERT INTO attempts (time, request_id, attempt, provider, model, outcome, prompt_tokens, completion_tokens)"
    " VALUES ('2026-11-01T10:00:00.000Z', 'a', 0, 'p1', 'm1', 'ok', 10, 5);");
  g_autofree char *empty_sql = g_strconcat (schema_sql, added_sql, NULL);
  g_autofree char *empty = write_ledger (dir, "empty.db", empty_sql);
  g_autoptr(Result) old_run = run_report (dir, "--ledger", old, "--json", "--group-by", "model");
  g_autoptr(Result) old_text = run_report (dir, "--ledger", old);
  g_autoptr(Result) empty_run = run_report (dir, "--ledger", empty, "--json", "--group-by", "day");
  g_autoptr(Result) empty_text = run_report (dir, "--ledger", empty);
  g_autoptr(JsonObject) r = NULL;
  JsonObject *t;

  g_assert_cmpint (old_run->status, ==, 0);
  r = parse_object (old_run->out);
  t = json_object_get_object_member (r, "totals");
  assert_int (t, "requests", 1);
  assert_int (t, "attempts", 1);
  assert_num (t, "cost_usd", 0.5);
  assert_int (t, "latency_ms.p50", 70);
  assert_null (t, "waste_ratio");
  assert_null (t, "fallback_share");
  assert_null (t, "ttft_ms.p50");
  assert_null (t, "cache_hit_rate");
  assert_null (t, "compliance.rate");
  assert_int (t, "breaker_trips", 0);
  assert_str (json_array_get_object_element (json_object_get_array_member (r, "groups"), 0), "key", "m1");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (r, "served_by")), ==, 0);
  g_assert_cmpint (old_text->status, ==, 0);
  assert_text (old_text->out, "token waste ratio", "–");

  g_assert_cmpint (empty_run->status, ==, 0);
  g_clear_pointer (&r, json_object_unref);
  r = parse_object (empty_run->out);
  t = json_object_get_object_member (r, "totals");
  assert_int (t, "requests", 0);
  assert_null (t, "error_rate");
  assert_null (t, "latency_ms.p95");
  assert_null (t, "cost_per_session");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (r, "groups")), ==, 0);
  g_assert_cmpint (empty_text->status, ==, 0);
  assert_text (empty_text->out, "requests", "0");
  assert_text (empty_text->out, "error rate", "–");
  assert_text (empty_text->out, "latency p50 / p95 / p99 (ms)", "– / – / –");
}

/* ---- end to end -------------------------------------------------------------------------- */

static gint64
db_count (const char *path,
          const char *sql)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gint64 n;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  n = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return n;
}

/* A batch of five reviews against sluice-mock (some answers rate-limited
 * first), then `sluice report --json` over the ledger it wrote. */
static void
test_after_a_real_run (void)
{
  g_autofree char *dir = temp_dir ();
  g_autofree char *url = sluice_test_mock_start ("--seed", "7", "--faults", "0.3", NULL);
  g_autofree char *base = g_strconcat (url, "/v1", NULL);
  g_autofree char *pipeline = g_build_filename (g_getenv ("SLUICE_SOURCE_ROOT"), "pipelines", "sentiment.yaml", NULL);
  g_autofree char *input = write_text (dir, "in.jsonl",
    "{\"custom_id\": \"1\", \"input\": {\"text\": \"great sound\"}}\n"
    "{\"custom_id\": \"2\", \"input\": {\"text\": \"awful battery\"}}\n"
    "{\"custom_id\": \"3\", \"input\": {\"text\": \"it is fine\"}}\n"
    "{\"custom_id\": \"4\", \"input\": {\"text\": \"love it\"}}\n"
    "{\"custom_id\": \"5\", \"input\": {\"text\": \"broke in a day\"}}\n");
  g_autofree char *output = g_build_filename (dir, "out.jsonl", NULL);
  g_autofree char *ledger = g_build_filename (dir, "ledger.db", NULL);
  g_autoptr(Result) batch = run_cli_v (dir, base, (const char * const []) {
    "batch", pipeline, input, "-o", output, "--quiet", NULL });
  g_autoptr(Result) report = NULL;
  g_autoptr(JsonObject) model = NULL;
  JsonObject *t;
  gint64 mock_requests;

  {
    g_autoptr(JsonObject) stats = sluice_test_mock_stats ();

    mock_requests = json_object_get_int_member (stats, "requests");
  }
  sluice_test_mock_stop ();
  g_assert_cmpint (batch->status, <=, 1);
  report = run_report (dir, "--json", "--group-by", "pipeline");
  g_assert_cmpint (report->status, ==, 0);
  g_assert_null (strstr (report->out, "sk-test-report-key"));
  model = parse_object (report->out);
  assert_str (model, "ledger", ledger);   /* the sqlite sink's default ledger */
  t = json_object_get_object_member (model, "totals");
  assert_int (t, "requests", 5);
  assert_int (t, "requests", db_count (ledger, "SELECT count(*) FROM requests"));
  assert_int (t, "attempts", db_count (ledger, "SELECT count(*) FROM attempts"));
  assert_int (t, "succeeded", db_count (ledger, "SELECT count(*) FROM requests WHERE outcome = 'ok'"));
  /* Every attempt the ledger holds reached the mock. */
  g_assert_cmpint (json_object_get_int_member (t, "attempts"), ==, mock_requests);
  assert_str (json_array_get_object_element (json_object_get_array_member (model, "groups"), 0), "key", "sentiment");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/report/json-figures", test_json_figures);
  g_test_add_func ("/report/groups", test_groups);
  g_test_add_func ("/report/time-filters", test_time_filters);
  g_test_add_func ("/report/text", test_text);
  g_test_add_func ("/report/csv", test_csv);
  g_test_add_func ("/report/html", test_html);
  g_test_add_func ("/report/text-controls", test_text_controls);
  g_test_add_func ("/report/all-costs-unknown", test_all_costs_unknown);
  g_test_add_func ("/report/prometheus", test_prometheus);
  g_test_add_func ("/report/slo", test_slo);
  g_test_add_func ("/report/slo-bad-files", test_slo_bad_files);
  g_test_add_func ("/report/bad-input", test_bad_input);
  g_test_add_func ("/report/old-and-empty-ledgers", test_old_and_empty_ledgers);
  g_test_add_func ("/report/after-a-real-run", test_after_a_real_run);
  return g_test_run ();
}
