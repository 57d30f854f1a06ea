/* test-catalog.c — cost arithmetic from the shipped price table.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-util.h"

static void
test_shipped_prices (void)
{
  SluiceCatalog *catalog = sluice_catalog_get_default ();

  /* gpt-4o-mini: $0.15 in, $0.60 out, $0.075 cached in, per million */
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost (catalog, "openai", "gpt-4o-mini", 1000000, 0, 0), 0.15, 1e-12);
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost (catalog, "openai", "gpt-4o-mini", 1200, 300, 0),
                                  (1200 * 0.15 + 300 * 0.60) / 1e6, 1e-15);
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost (catalog, "openai", "gpt-4o-mini", 1200, 300, 1000),
                                  (200 * 0.15 + 1000 * 0.075 + 300 * 0.60) / 1e6, 1e-15);
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost (catalog, "openai", "gpt-4o", 1000, 1000, 0),
                                  (1000 * 2.50 + 1000 * 10.00) / 1e6, 1e-15);
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost (catalog, "anthropic", "claude-sonnet-4", 10, 10, 0),
                                  (10 * 3.0 + 10 * 15.0) / 1e6, 1e-15);
}

static void
test_snapshot_names_fall_back (void)
{
  SluiceCatalog *catalog = sluice_catalog_get_default ();

  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost (catalog, "openai", "gpt-4o-mini-2024-07-18", 1000, 0, 0),
                                  1000 * 0.15 / 1e6, 1e-15);
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost (catalog, "anthropic", "claude-sonnet-4-20250514", 1000, 0, 0),
                                  1000 * 3.0 / 1e6, 1e-15);
}

static void
test_unknown_is_not_zero (void)
{
  SluiceCatalog *catalog = sluice_catalog_get_default ();

  g_assert_cmpfloat (sluice_catalog_compute_cost (catalog, "openai", "no-such-model", 10, 10, 0), <, 0);
  g_assert_cmpfloat (sluice_catalog_compute_cost (catalog, "local", "llama", 10, 10, 0), <, 0);
  g_assert_cmpfloat (sluice_catalog_compute_cost (catalog, "openai", "gpt-4o-mini", -1, 10, 0), <, 0);
  g_assert_null (sluice_catalog_lookup (catalog, "openai", "no-such-model"));
}

static void
test_override_file (void)
{
  g_autofree char *path = sluice_test_write_file ("models.json",
    "{\"providers\": {\"local\": {\"llama\": {\"input_per_mtok\": 1, \"output_per_mtok\": 2}}}}");
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceCatalog) catalog = sluice_catalog_new_from_file (path, &error);

  g_assert_no_error (error);
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost (catalog, "local", "llama", 1000000, 1000000, 0), 3.0, 1e-12);
}

/* Each provider's usage, as sluice normalizes it: prompt tokens are all the
 * input (OpenAI's prompt_tokens include the cached ones; Anthropic's
 * input_tokens do not, the provider adds cache reads and writes back),
 * completion tokens include reasoning. */
static void
test_cost_with_cache (void)
{
  SluiceCatalog *catalog = sluice_catalog_get_default ();

  /* gpt-4o: 2000 in of which 1500 cached, 300 out (100 of them reasoning):
   * 500 x $2.50 + 1500 x $1.25 + 300 x $10 = $0.006125 */
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost_full (catalog, "openai", "gpt-4o", 2000, 300, 1500, 0),
                                  0.006125, 1e-15);
  /* claude-sonnet-4-5: 100 uncached + 2000 read + 1000 written in, 500 out:
   * 100 x $3 + 2000 x $0.30 + 1000 x $3.75 + 500 x $15 = $0.01215 */
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost_full (catalog, "anthropic", "claude-sonnet-4-5",
                                                                    3100, 500, 2000, 1000),
                                  0.01215, 1e-15);
  /* gemini-2.5-flash: 1000 in, 800 cached; 50 out + 150 thinking:
   * 200 x $0.30 + 800 x $0.075 + 200 x $2.50 = $0.00062 */
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost_full (catalog, "gemini", "gemini-2.5-flash",
                                                                    1000, 200, 800, 0),
                                  0.00062, 1e-15);
  /* more cached than prompt (a confused server) bills no negative input */
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost_full (catalog, "openai", "gpt-4o", 10, 0, 50, 0),
                                  10 * 1.25 / 1e6, 1e-15);
  /* a kind of token without a price: unknown, not billed at another rate */
  g_assert_cmpfloat (sluice_catalog_compute_cost_full (catalog, "openai", "gpt-3.5-turbo", 100, 10, 50, 0), <, 0);
  g_assert_cmpfloat (sluice_catalog_compute_cost_full (catalog, "openai", "gpt-4o", 100, 10, 0, 20), <, 0);
  /* ... but a kind the usage has none of needs none */
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost_full (catalog, "openai", "gpt-3.5-turbo", 100, 10, 0, 0),
                                  (100 * 0.50 + 10 * 1.50) / 1e6, 1e-15);
}

/* Every shipped model has its prices, limits, tokenizer where the
 * provider publishes one, and the date its prices were checked. */
static void
test_shipped_entries_complete (void)
{
  g_autofree char *path = g_build_filename (g_getenv ("SLUICE_SOURCE_ROOT"), "data", "models.json", NULL);
  g_autofree char *contents = NULL;
  g_autoptr(JsonNode) root = NULL;
  JsonObjectIter providers;
  const char *provider;
  JsonNode *models;

  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  root = sluice_json_from_string (contents, -1, NULL);
  json_object_iter_init (&providers, json_object_get_object_member (json_node_get_object (root), "providers"));
  while (json_object_iter_next (&providers, &provider, &models))
    {
      JsonObjectIter iter;
      const char *model;
      JsonNode *entry;

      json_object_iter_init (&iter, json_node_get_object (models));
      while (json_object_iter_next (&iter, &model, &entry))
        {
          JsonObject *e = json_node_get_object (entry);

          g_test_message ("%s/%s", provider, model);
          g_assert_true (json_object_has_member (e, "input_per_mtok"));
          g_assert_true (json_object_has_member (e, "output_per_mtok"));
          g_assert_true (json_object_has_member (e, "context_window"));
          g_assert_true (json_object_has_member (e, "max_output"));
          g_assert_nonnull (sluice_json_get_string (e, "checked"));
          g_assert_true (json_object_has_member (e, "tokenizer"));
          /* prompt caching is billed by every provider listed but OpenAI's oldest models */
          if (!g_str_equal (provider, "openai"))
            g_assert_true (json_object_has_member (e, "cached_input_per_mtok"));
          if (g_str_equal (provider, "anthropic"))
            g_assert_true (json_object_has_member (e, "cache_write_per_mtok"));
        }
    }
}

/* The override changes what it names, member by member, and keeps the rest. */
static void
test_override_merges (void)
{
  g_autofree char *base = g_build_filename (g_getenv ("SLUICE_SOURCE_ROOT"), "data", "models.json", NULL);
  g_autofree char *path = sluice_test_write_file ("override.json",
    "{\"providers\": {\"openai\": {\"gpt-4o\": {\"input_per_mtok\": 2.0, \"checked\": \"2026-12-01\"},"
    "                             \"gpt-4o-mini\": {\"cached_input_per_mtok\": null}},"
    "               \"local\": {\"llama\": {\"input_per_mtok\": 0, \"output_per_mtok\": 0, \"context_window\": 8192}}}}");
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceCatalog) catalog = sluice_catalog_new_from_files (base, path, &error);
  JsonObject *entry;

  g_assert_no_error (error);
  entry = sluice_catalog_lookup (catalog, "openai", "gpt-4o");
  g_assert_cmpfloat (json_object_get_double_member (entry, "input_per_mtok"), ==, 2.0);
  g_assert_cmpfloat (json_object_get_double_member (entry, "output_per_mtok"), ==, 10.0);   /* kept */
  g_assert_cmpstr (json_object_get_string_member (entry, "checked"), ==, "2026-12-01");
  g_assert_cmpint (json_object_get_int_member (entry, "context_window"), ==, 128000);
  /* 1000 cached of 2000 in: 1000 x $2.00 + 1000 x $1.25 */
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost (catalog, "openai", "gpt-4o", 2000, 0, 1000),
                                  (1000 * 2.0 + 1000 * 1.25) / 1e6, 1e-15);
  /* a price removed: cached tokens cost unknown, uncached ones still known */
  g_assert_cmpfloat (sluice_catalog_compute_cost (catalog, "openai", "gpt-4o-mini", 2000, 0, 1000), <, 0);
  g_assert_cmpfloat_with_epsilon (sluice_catalog_compute_cost (catalog, "openai", "gpt-4o-mini", 2000, 0, 0),
                                  2000 * 0.15 / 1e6, 1e-15);
  /* a free local model costs 0, which is known */
  g_assert_cmpfloat (sluice_catalog_compute_cost (catalog, "local", "llama", 500, 500, 0), ==, 0);
  /* other providers untouched */
  g_assert_nonnull (sluice_catalog_lookup (catalog, "anthropic", "claude-haiku-4-5"));
  g_assert_cmpstr (sluice_catalog_get_tokenizer (catalog, "openai", "gpt-4o"), ==, "o200k_base");
}

static void
test_override_errors (void)
{
  g_autofree char *base = g_build_filename (g_getenv ("SLUICE_SOURCE_ROOT"), "data", "models.json", NULL);
  static const struct { const char *text; const char *message; } cases[] = {
    { "{\"providers\": {\"openai\": {\"gpt-4o\": {\"input_per_mtok\": \"2.50\"}}}}",
      "providers.openai.gpt-4o.input_per_mtok: expected a price in USD per million tokens (a number >= 0)" },
    { "{\"providers\": {\"openai\": {\"gpt-4o\": {\"output_per_mtok\": -1}}}}",
      "providers.openai.gpt-4o.output_per_mtok: expected a price" },
    { "{\"providers\": {\"openai\": {\"gpt-4o\": {\"context_window\": 1.5}}}}",
      "providers.openai.gpt-4o.context_window: expected a number of tokens" },
    { "{\"providers\": {\"openai\": {\"gpt-4o\": {\"input_per_mtoken\": 100}}}}",
      "providers.openai.gpt-4o.input_per_mtoken: unknown member (known: input_per_mtok, " },
    { "{\"providers\": {\"openai\": {\"gpt-4o\": 3}}}", "providers.openai.gpt-4o: expected an object" },
    { "{\"providers\": {\"openai\": []}}", "providers.openai: expected an object of models" },
    { "{\"providers\": ", "override.json:" },
    { "[1]", "expected an object (a catalog override" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = sluice_test_write_file ("override.json", cases[i].text);
      g_autoptr(GError) error = NULL;
      g_autoptr(SluiceCatalog) catalog = sluice_catalog_new_from_files (base, path, &error);

      g_assert_null (catalog);
      g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG);
      g_assert_true (g_str_has_prefix (error->message, path));
      sluice_test_assert_contains (error->message, cases[i].message);
    }
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(SluiceCatalog) catalog = sluice_catalog_new_from_files (base, "/nonexistent/override.json", &error);

    g_assert_null (catalog);
    sluice_test_assert_contains (error->message, "/nonexistent/override.json");
  }
}

static void
test_durations (void)
{
  gint64 ms = 0;

  g_assert_true (sluice_parse_duration ("250ms", &ms)); g_assert_cmpint (ms, ==, 250);
  g_assert_true (sluice_parse_duration ("1.5s", &ms)); g_assert_cmpint (ms, ==, 1500);
  g_assert_true (sluice_parse_duration ("5m", &ms)); g_assert_cmpint (ms, ==, 300000);
  g_assert_true (sluice_parse_duration ("1d", &ms)); g_assert_cmpint (ms, ==, 86400000);
  g_assert_false (sluice_parse_duration ("5", &ms));
  g_assert_false (sluice_parse_duration ("-5s", &ms));
  g_assert_false (sluice_parse_duration ("5 s", &ms));
  g_assert_false (sluice_parse_duration ("s", &ms));
}

static void
test_retry_after_headers (void)
{
  g_autoptr(SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(GDateTime) later = g_date_time_add_seconds (now, 30);
  g_autofree char *date = soup_date_time_to_string (later, SOUP_DATE_HTTP);
  gint64 ms;

  g_assert_cmpint (sluice_http_parse_retry_after (headers), ==, -1);
  soup_message_headers_replace (headers, "Retry-After", "2");
  g_assert_cmpint (sluice_http_parse_retry_after (headers), ==, 2000);
  soup_message_headers_replace (headers, "retry-after-ms", "250");
  g_assert_cmpint (sluice_http_parse_retry_after (headers), ==, 250);
  soup_message_headers_remove (headers, "retry-after-ms");
  soup_message_headers_replace (headers, "Retry-After", date);
  ms = sluice_http_parse_retry_after (headers);
  g_assert_cmpint (ms, >, 27000);
  g_assert_cmpint (ms, <=, 30000);
  soup_message_headers_replace (headers, "Retry-After", "soon");
  g_assert_cmpint (sluice_http_parse_retry_after (headers), ==, -1);
}

/* What a hostile server may send: strtod's hex, inf and nan are no number
 * of seconds; a far date, like a huge number, is capped at a year (too
 * long to wait either way); a past date is "now". */
static void
test_retry_after_hostile (void)
{
  static const struct { const char *header; const char *value; gint64 ms; } cases[] = {
    { "Retry-After", "0x10", -1 },
    { "Retry-After", "inf", -1 },
    { "Retry-After", "nan", -1 },
    { "Retry-After", "10", 10000 },
    { "Retry-After", "1e9", G_GINT64_CONSTANT (31536000000) },
    { "Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT", G_GINT64_CONSTANT (31536000000) },
    { "Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT", 0 },
    { "retry-after-ms", "0x10", -1 },
    { "retry-after-ms", "250", 250 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_RESPONSE);

      g_test_message ("%s: %s", cases[i].header, cases[i].value);
      soup_message_headers_replace (headers, cases[i].header, cases[i].value);
      g_assert_cmpint (sluice_http_parse_retry_after (headers), ==, cases[i].ms);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/catalog/cost-with-cache", test_cost_with_cache);
  g_test_add_func ("/catalog/shipped-entries-complete", test_shipped_entries_complete);
  g_test_add_func ("/catalog/override-merges", test_override_merges);
  g_test_add_func ("/catalog/override-errors", test_override_errors);
  g_test_add_func ("/catalog/shipped-prices", test_shipped_prices);
  g_test_add_func ("/catalog/snapshot-names", test_snapshot_names_fall_back);
  g_test_add_func ("/catalog/unknown-is-not-zero", test_unknown_is_not_zero);
  g_test_add_func ("/catalog/override-file", test_override_file);
  g_test_add_func ("/util/durations", test_durations);
  g_test_add_func ("/util/retry-after", test_retry_after_headers);
  g_test_add_func ("/util/retry-after-hostile", test_retry_after_hostile);
  return g_test_run ();
}
