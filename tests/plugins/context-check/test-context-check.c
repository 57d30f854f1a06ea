/* test-context-check.c — the context-check stage: the numbers it records
 * for a prompt that fits, a prompt refused before any request, a variable
 * cut from the middle until the prompt fits (what the mock received), a
 * fallback past a target whose window is too small, unknown models, and a
 * 50 MB variable cut in one pass.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-provider.h"

#include <string.h>

static SluiceEngine *engine;

/* 3 + "system" + "Be brief." (3) + 3 + "user" + "Hello, how are you?" (6) + 3 */
#define HELLO_TOKENS 20

#define TARGET(provider, model, extra) \
  "target: {provider: " provider ", model: " model ", base_url: \"http://127.0.0.1:9/v1\", api_key: sk-test" extra "}"

/* Loads "context-check: @block" then a call stage with @call, and runs
 * only the context-check stage on the hello messages. */
static SluiceContext *
check_with (const char    *block,
            const char    *call,
            SluiceVerdict  expected,
            GError       **error)
{
  g_autofree char *yaml = g_strdup_printf ("name: checked\nstages:\n  - context-check: %s\n  - call:\n      %s\n",
                                           block, call);
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine, yaml);
  g_autoptr(JsonNode) input = json_from_string ("{}", NULL);
  g_autoptr(JsonNode) messages = json_from_string (
    "[{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hello, how are you?\"}]", NULL);
  SluiceContext *context = sluice_context_new (input);

  sluice_context_set_messages (context, json_node_get_array (messages));
  g_assert_cmpint (sluice_stage_process (sluice_pipeline_get_stage (pipeline, 0), context, error), ==, expected);
  return context;
}

static void
test_fits (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceContext) context = check_with ("{}", TARGET ("openai", "gpt-4o-mini", ", max_tokens: 100"),
                                                 SLUICE_VERDICT_CONTINUE, &error);
  JsonObject *preflight = sluice_context_get_preflight (context);

  g_assert_no_error (error);
  g_assert_cmpint (json_object_get_int_member (preflight, "prompt_tokens"), ==, HELLO_TOKENS);
  g_assert_false (json_object_get_boolean_member (preflight, "prompt_tokens_estimated"));
  /* The target's max_tokens is what is reserved. */
  g_assert_cmpint (json_object_get_int_member (preflight, "reserved_output_tokens"), ==, 100);
  g_assert_cmpint (json_object_get_int_member (preflight, "context_window"), ==, 128000);
  g_assert_cmpstr (json_object_get_string_member (preflight, "model"), ==, "gpt-4o-mini");
  /* 20 × $0.15 + 100 × $0.60 per million */
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (preflight, "estimated_cost_usd"), 63e-6, 1e-12);
  /* The count stays for the budget and the rate limits, as token-count's would. */
  g_assert_cmpint (sluice_context_get_counted_prompt_tokens (context, NULL, NULL), ==, HELLO_TOKENS);
  g_assert_cmpint (json_object_get_int_member (sluice_context_get_variables (context), "input_tokens"), ==,
                   HELLO_TOKENS);
  g_clear_object (&context);

  /* No max_tokens: reserve_output, else the model's max_output capped at 4096. */
  context = check_with ("{reserve_output: 500}", TARGET ("openai", "gpt-4o-mini", ""), SLUICE_VERDICT_CONTINUE, &error);
  g_assert_cmpint (json_object_get_int_member (sluice_context_get_preflight (context), "reserved_output_tokens"), ==, 500);
  g_clear_object (&context);
  context = check_with ("{}", TARGET ("openai", "gpt-4o-mini", ""), SLUICE_VERDICT_CONTINUE, &error);
  g_assert_cmpint (json_object_get_int_member (sluice_context_get_preflight (context), "reserved_output_tokens"), ==, 4096);
  g_clear_object (&context);
  context = check_with ("{}", TARGET ("anthropic", "claude-3-5-haiku", ""), SLUICE_VERDICT_CONTINUE, &error);
  preflight = sluice_context_get_preflight (context);
  g_assert_cmpint (json_object_get_int_member (preflight, "reserved_output_tokens"), ==, 4096);
  g_assert_cmpint (json_object_get_int_member (preflight, "context_window"), ==, 200000);
  /* No local tokenizer: 20 × 1.1, rounded up, marked as an estimate. */
  g_assert_cmpint (json_object_get_int_member (preflight, "prompt_tokens"), ==, 22);
  g_assert_true (json_object_get_boolean_member (preflight, "prompt_tokens_estimated"));
  g_clear_object (&context);
  context = check_with ("{}", TARGET ("openai", "gpt-3.5-turbo", ""), SLUICE_VERDICT_CONTINUE, &error);
  g_assert_cmpint (json_object_get_int_member (sluice_context_get_preflight (context), "reserved_output_tokens"), ==, 4096);
  g_assert_cmpint (json_object_get_int_member (sluice_context_get_preflight (context), "context_window"), ==, 16385);
}

/* Too long: context_overflow with the numbers, and nothing sent. */
static void
test_reject (void)
{
  g_autofree char *url = sluice_test_mock_start ("--seed", "1", NULL);
  g_autofree char *yaml = g_strdup_printf (
    "name: rejected\n"
    "stages:\n"
    "  - assemble: {system: Be brief., user: \"{{text}}\"}\n"
    "  - context-check: {reserve_output: 127990}\n"
    "  - call:\n"
    "      target: {provider: openai, model: gpt-4o-mini, base_url: \"%s/v1\", api_key: sk-test}\n", url);
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine, yaml);
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{\"text\": \"Hello, how are you?\"}");
  g_autoptr(JsonObject) stats = NULL;
  const GError *error = sluice_context_get_error (context);
  JsonObject *details = sluice_context_get_error_details (context);

  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_CONTEXT_OVERFLOW);
  g_assert_cmpstr (error->message, ==,
                   "the prompt of 20 tokens and the 127990 reserved for the output need 128010 tokens, "
                   "more than the 128000-token context window of gpt-4o-mini (openai)");
  g_assert_cmpstr (sluice_context_get_error_stage (context), ==, "context-check");
  g_assert_cmpint (json_object_get_int_member (details, "prompt_tokens"), ==, HELLO_TOKENS);
  g_assert_cmpint (json_object_get_int_member (details, "reserved_output_tokens"), ==, 127990);
  g_assert_cmpint (json_object_get_int_member (details, "context_window"), ==, 128000);
  g_assert_cmpstr (json_object_get_string_member (details, "model"), ==, "gpt-4o-mini");
  g_assert_cmpuint (json_array_get_length (sluice_context_get_attempts (context)), ==, 0);
  stats = sluice_test_mock_stats ();
  g_assert_cmpint (json_object_get_int_member (stats, "requests"), ==, 0);
  sluice_test_mock_stop ();
}

static char *
numbered_words (guint n)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    g_string_append_printf (text, "%sword%u", i > 0 ? " " : "", i);
  return g_string_free (text, FALSE);
}

/* The document is cut from the middle: the request holds its head, the
 * marker and its tail, and fits the window with the reserve exactly. */
static void
test_truncate (void)
{
  g_autofree char *url = sluice_test_mock_start ("--seed", "1", NULL);
  g_autofree char *yaml = g_strdup_printf (
    "name: truncated\n"
    "stages:\n"
    "  - assemble: {system: Summarize., user: \"Document: {{doc.body}} (end)\"}\n"
    "  - context-check: {reserve_output: 127900, on_overflow: truncate, truncate: {variable: doc.body}}\n"
    "  - call:\n"
    "      target: {provider: openai, model: gpt-4o-mini, base_url: \"%s/v1\", api_key: sk-test}\n"
    "      retry: {max_attempts: 1}\n", url);
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine, yaml);
  g_autofree char *words = numbered_words (1000);
  g_autofree char *input = g_strdup_printf ("{\"doc\": {\"body\": \"%s\"}}", words);
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, input);
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(JsonArray) sent = NULL;
  JsonObject *truncated, *attempt;
  const char *content;
  gint64 tokens, removed;

  g_assert_no_error (sluice_context_get_error (context));
  body = sluice_test_mock_last_request ();
  sent = json_array_ref (json_object_get_array_member (body, "messages"));
  content = json_object_get_string_member (json_array_get_object_element (sent, 1), "content");
  g_assert_true (g_str_has_prefix (content, "Document: word0 word1 word2"));
  g_assert_true (g_str_has_suffix (content, "word998 word999 (end)"));
  sluice_test_assert_contains (content, " tokens cut …]\n");
  tokens = sluice_count_prompt_tokens (sent, "openai", "gpt-4o-mini", 0, NULL);
  /* Fits with the reserve, and no more was cut than had to be (a cut
   * one token shorter would not fit, give or take the marker's digits). */
  g_assert_cmpint (tokens + 127900, <=, 128000);
  g_assert_cmpint (tokens + 127900, >=, 128000 - 3);

  truncated = json_object_get_object_member (sluice_context_get_preflight (context), "truncated");
  g_assert_cmpstr (json_object_get_string_member (truncated, "variable"), ==, "doc.body");
  removed = json_object_get_int_member (truncated, "tokens_removed");
  {
    g_autofree char *marker = g_strdup_printf ("\n[… %" G_GINT64_FORMAT ",%03" G_GINT64_FORMAT " tokens cut …]\n",
                                               removed / 1000, removed % 1000);

    g_assert_cmpint (removed, >=, 1000);   /* one thousands separator */
    g_assert_cmpint (removed, <, 1000000);
    sluice_test_assert_contains (content, marker);
  }
  /* 2000 tokens in all (a word and a number each), about 60 kept. */
  g_assert_cmpint (removed + json_object_get_int_member (truncated, "tokens_kept"), ==, 2000);
  g_assert_cmpint (json_object_get_int_member (sluice_context_get_preflight (context), "prompt_tokens"), ==, tokens);
  /* The attempt record carries it to the log. */
  attempt = json_array_get_object_element (sluice_context_get_attempts (context), 0);
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (attempt, "truncated"), "tokens_removed"),
                   ==, removed);
  /* The variable holds what was sent; the input is as it came. */
  {
    JsonObject *doc = json_object_get_object_member (sluice_context_get_variables (context), "doc");
    JsonNode *original = sluice_json_lookup_path (sluice_context_get_input (context), "doc.body");

    sluice_test_assert_contains (json_object_get_string_member (doc, "body"), " tokens cut …]");
    g_assert_cmpstr (json_node_get_string (original), ==, words);
  }
  sluice_test_mock_stop ();
}

/* With fallback, a target whose window cannot hold the prompt is skipped
 * without a request; the larger one answers. */
static void
test_fallback (void)
{
  g_autofree char *url = sluice_test_mock_start ("--seed", "1", NULL);
  g_autofree char *yaml = g_strdup_printf (
    "name: fallback\n"
    "stages:\n"
    "  - assemble: {system: Be brief., user: \"{{text}}\"}\n"
    "  - context-check: {on_overflow: fallback, reserve_output: 16380}\n"
    "  - call:\n"
    "      policy: chain\n"
    "      targets:\n"
    "        - {name: small, provider: openai, model: gpt-3.5-turbo, base_url: \"%s/v1\", api_key: sk-test}\n"
    "        - {name: large, provider: openai, model: gpt-4o-mini, base_url: \"%s/v1\", api_key: sk-test}\n"
    "      retry: {max_attempts: 1}\n", url, url);
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine, yaml);
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{\"text\": \"Hello, how are you?\"}");
  g_autoptr(JsonObject) stats = NULL;
  JsonArray *attempts = sluice_context_get_attempts (context);
  JsonObject *skipped, *served, *preflight = sluice_context_get_preflight (context);

  g_assert_no_error (sluice_context_get_error (context));
  g_assert_cmpuint (json_array_get_length (attempts), ==, 2);
  skipped = json_array_get_object_element (attempts, 0);
  g_assert_cmpstr (json_object_get_string_member (skipped, "target"), ==, "small");
  g_assert_cmpstr (json_object_get_string_member (skipped, "outcome"), ==, "skipped");
  g_assert_cmpstr (json_object_get_string_member (skipped, "error_kind"), ==, "context_overflow");
  sluice_test_assert_contains (json_object_get_string_member (skipped, "error_message"),
                               "more than the 16385-token context window of gpt-3.5-turbo (openai)");
  served = json_array_get_object_element (attempts, 1);
  g_assert_cmpstr (json_object_get_string_member (served, "target"), ==, "large");
  g_assert_cmpstr (json_object_get_string_member (served, "outcome"), ==, "ok");
  stats = sluice_test_mock_stats ();
  g_assert_cmpint (json_object_get_int_member (stats, "requests"), ==, 1);
  /* The preflight is for the target that is called. */
  g_assert_cmpstr (json_object_get_string_member (preflight, "model"), ==, "gpt-4o-mini");
  g_assert_cmpint (json_object_get_int_member (preflight, "context_window"), ==, 128000);
  g_clear_object (&context);
  g_clear_pointer (&stats, json_object_unref);
  g_clear_object (&pipeline);

  /* None can hold it: refused before any request. */
  g_free (yaml);
  yaml = g_strdup_printf (
    "name: fallback\n"
    "stages:\n"
    "  - assemble: {system: Be brief., user: \"{{text}}\"}\n"
    "  - context-check: {on_overflow: fallback, reserve_output: 127990}\n"
    "  - call:\n"
    "      targets:\n"
    "        - {name: small, provider: openai, model: gpt-3.5-turbo, base_url: \"%s/v1\", api_key: sk-test}\n"
    "        - {name: large, provider: openai, model: gpt-4o-mini, base_url: \"%s/v1\", api_key: sk-test}\n", url, url);
  pipeline = sluice_test_load_pipeline (engine, yaml);
  context = sluice_test_run (pipeline, "{\"text\": \"Hello, how are you?\"}");
  g_assert_error (sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_CONTEXT_OVERFLOW);
  sluice_test_assert_contains (sluice_context_get_error (context)->message, "no target can hold the prompt: ");
  sluice_test_assert_contains (sluice_context_get_error (context)->message, "16385-token context window of gpt-3.5-turbo");
  sluice_test_assert_contains (sluice_context_get_error (context)->message, "128000-token context window of gpt-4o-mini");
  stats = sluice_test_mock_stats ();
  g_assert_cmpint (json_object_get_int_member (stats, "requests"), ==, 1);   /* the first request's, no more */
  g_assert_cmpuint (json_array_get_length (sluice_context_get_attempts (context)), ==, 0);
  sluice_test_mock_stop ();
}

/* A policy that spreads attempts may pick a too-small target again after
 * another: the call stage then takes the first target that fits, so
 * every request is answered, each small target skipped at most once. */
static void
test_fallback_weighted (void)
{
  g_autofree char *url = sluice_test_mock_start ("--seed", "1", NULL);
  g_autofree char *yaml = g_strdup_printf (
    "name: spread\n"
    "stages:\n"
    "  - assemble: {system: Be brief., user: \"{{text}}\"}\n"
    "  - context-check: {on_overflow: fallback, reserve_output: 16380}\n"
    "  - call:\n"
    "      policy: {weighted: {seed: 7}}\n"
    "      targets:\n"
    "        - {name: small-a, provider: openai, model: gpt-3.5-turbo, base_url: \"%s/v1\", api_key: sk-test, weight: 10}\n"
    "        - {name: small-b, provider: openai, model: gpt-3.5-turbo, base_url: \"%s/v1\", api_key: sk-test, weight: 10}\n"
    "        - {name: large, provider: openai, model: gpt-4o-mini, base_url: \"%s/v1\", api_key: sk-test, weight: 1}\n"
    "      retry: {max_attempts: 1}\n", url, url, url);
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine, yaml);
  g_autoptr(JsonObject) stats = NULL;

  for (guint i = 0; i < 20; i++)
    {
      g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{\"text\": \"Hello, how are you?\"}");
      JsonArray *attempts = sluice_context_get_attempts (context);
      guint n = json_array_get_length (attempts);

      g_assert_no_error (sluice_context_get_error (context));
      g_assert_cmpuint (n, >=, 1);
      g_assert_cmpuint (n, <=, 3);
      for (guint j = 0; j + 1 < n; j++)
        g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (attempts, j), "error_kind"), ==,
                         "context_overflow");
      g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (attempts, n - 1), "target"), ==,
                       "large");
    }
  stats = sluice_test_mock_stats ();
  g_assert_cmpint (json_object_get_int_member (stats, "requests"), ==, 20);
  sluice_test_mock_stop ();
}

/* A hedge would go to the next target; one too small for the prompt is
 * not raced, so a slow answer is simply waited for. */
static void
test_no_hedge_on_small_target (void)
{
  g_autofree char *url = sluice_test_mock_start ("--seed", "1", "--latency", "300ms", NULL);
  g_autofree char *yaml = g_strdup_printf (
    "name: hedged\n"
    "stages:\n"
    "  - assemble: {system: Be brief., user: \"{{text}}\"}\n"
    "  - context-check: {on_overflow: fallback, reserve_output: 16380}\n"
    "  - call:\n"
    "      targets:\n"
    "        - {name: large, provider: openai, model: gpt-4o-mini, base_url: \"%s/v1\", api_key: sk-test}\n"
    "        - {name: small, provider: openai, model: gpt-3.5-turbo, base_url: \"%s/v1\", api_key: sk-test}\n"
    "      hedge: {after: 50ms}\n"
    "      retry: {max_attempts: 1}\n", url, url);
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine, yaml);
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{\"text\": \"Hello, how are you?\"}");
  g_autoptr(JsonObject) stats = NULL;
  JsonArray *attempts = sluice_context_get_attempts (context);

  g_assert_no_error (sluice_context_get_error (context));
  g_assert_cmpuint (json_array_get_length (attempts), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (attempts, 0), "target"), ==, "large");
  stats = sluice_test_mock_stats ();
  g_assert_cmpint (json_object_get_int_member (stats, "requests"), ==, 1);
  sluice_test_mock_stop ();
}

static void
assert_refused (const char *yaml,
                const char *message)
{
  g_autofree char *path = sluice_test_write_file ("pipeline.yaml", yaml);
  g_autoptr(GError) error = NULL;
  g_autoptr(SluicePipeline) pipeline = sluice_pipeline_new_from_file (engine, path, &error);

  g_assert_null (pipeline);
  g_assert_nonnull (error);
  sluice_test_assert_contains (error->message, message);
}

static void
test_unknown_model (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceContext) context = NULL;

  assert_refused ("name: bad\nstages:\n  - context-check: {}\n  - call:\n      "
                  TARGET ("openai-compatible", "llama3.2", "") "\n",
                  "model 'llama3.2' of provider 'openai-compatible' is not in the model catalog "
                  "(data/models.json): give its context window with 'window: TOKENS'");
  /* window: gives it; the reserve is then 4096 unless told. */
  context = check_with ("{window: 8192, safety_factor: 1}", TARGET ("openai-compatible", "llama3.2", ""),
                        SLUICE_VERDICT_CONTINUE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (json_object_get_int_member (sluice_context_get_preflight (context), "context_window"), ==, 8192);
  g_assert_cmpint (json_object_get_int_member (sluice_context_get_preflight (context), "prompt_tokens"), ==, HELLO_TOKENS);
  g_assert_true (json_object_get_null_member (sluice_context_get_preflight (context), "estimated_cost_usd"));
  g_clear_object (&context);

  /* For a known model, window: caps the catalog's window (never raises it). */
  context = check_with ("{window: 8000}", TARGET ("openai", "gpt-4o-mini", ""), SLUICE_VERDICT_CONTINUE, &error);
  g_assert_cmpint (json_object_get_int_member (sluice_context_get_preflight (context), "context_window"), ==, 8000);
  g_clear_object (&context);
  context = check_with ("{window: 1000000}", TARGET ("openai", "gpt-4o-mini", ""), SLUICE_VERDICT_CONTINUE, &error);
  g_assert_cmpint (json_object_get_int_member (sluice_context_get_preflight (context), "context_window"), ==, 128000);

  assert_refused ("name: bad\nstages:\n  - context-check: {on_overflow: truncate}\n  - call:\n      "
                  TARGET ("openai", "gpt-4o", "") "\n",
                  "on_overflow: truncate needs the variable to cut: truncate: {variable: NAME}");
  assert_refused ("name: bad\nstages:\n  - context-check: {truncate: {variable: x}}\n  - call:\n      "
                  TARGET ("openai", "gpt-4o", "") "\n",
                  "truncate: only with on_overflow: truncate");
  assert_refused ("name: bad\nstages:\n  - context-check: {reserve_output: 20000}\n  - call:\n      "
                  TARGET ("openai", "gpt-3.5-turbo", "") "\n",
                  "reserving 20000 tokens for the output leaves no room for a prompt in the 16385-token "
                  "context window of gpt-3.5-turbo");
  assert_refused ("name: bad\nstages:\n  - context-check: {}\n", "no model to check for");
  assert_refused ("name: bad\nstages:\n  - context-check: {on_overflow: shrink}\n  - call:\n      "
                  TARGET ("openai", "gpt-4o", "") "\n", "on_overflow");
}

/* A 50 MB document is cut to the window in one pass over it (asserting
 * only that it completes and fits, not how fast). */
static void
test_huge_variable (void)
{
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine,
    "name: huge\n"
    "stages:\n"
    "  - assemble: {user: \"{{document}}\"}\n"
    "  - context-check: {model: gpt-3.5-turbo, provider: openai, on_overflow: truncate, truncate: {variable: document}}\n");
  g_autoptr(JsonObject) input = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(SluiceContext) context = NULL;
  GString *text = g_string_sized_new (50 * 1000 * 1000 + 100);
  JsonObject *message, *truncated;
  const char *content;

  for (guint i = 0; text->len < 50 * 1000 * 1000; i++)
    g_string_append_printf (text, "Line %u: the quick brown fox jumps over the lazy dog. ", i);
  json_object_set_string_member (input, "document", text->str);
  node = json_node_init_object (json_node_alloc (), input);
  context = sluice_context_new (node);
  sluice_test_run_context (pipeline, context);

  g_assert_no_error (sluice_context_get_error (context));
  message = json_array_get_object_element (sluice_context_get_messages (context), 0);
  content = json_object_get_string_member (message, "content");
  g_assert_true (g_str_has_prefix (content, "Line 0: the quick brown fox"));
  g_assert_true (g_str_has_suffix (text->str, content + strlen (content) - 60));
  sluice_test_assert_contains (content, " tokens cut …]\n");
  g_assert_cmpint (sluice_count_prompt_tokens (sluice_context_get_messages (context), "openai", "gpt-3.5-turbo", 0, NULL)
                   + 4096, <=, 16385);
  truncated = json_object_get_object_member (sluice_context_get_preflight (context), "truncated");
  g_assert_cmpint (json_object_get_int_member (truncated, "tokens_removed"), >, 10 * 1000 * 1000);
  g_string_free (text, TRUE);
}

/* A call stage budget reserves what the preflight estimated: the
 * prompt and the output reserved here, not its own 1024-token guess. */
static void
test_budget_reads_reserve (void)
{
  g_autofree char *scratch = sluice_test_write_file ("scratch", "");
  g_autofree char *dir = g_path_get_dirname (scratch);
  g_autofree char *yaml = g_strdup_printf (
    "name: budgeted\n"
    "stages:\n"
    "  - assemble: {system: Be brief., user: \"{{text}}\"}\n"
    "  - context-check: {reserve_output: 100}\n"
    "  - call:\n"
    "      target: {provider: openai, model: gpt-4o-mini, base_url: \"http://127.0.0.1:9/v1\", api_key: sk-test}\n"
    "      budget: {daily_usd: 0.00005, ledger: \"%s/ledger.db\"}\n", dir);
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine, yaml);
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{\"text\": \"Hello, how are you?\"}");
  const GError *error = sluice_context_get_error (context);

  /* 20 × $0.15 + 100 × $0.60 per million = $0.000063 */
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (sluice_context_get_preflight (context),
                                                                 "estimated_cost_usd"), 63e-6, 1e-12);
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_BUDGET_EXCEEDED);
  sluice_test_assert_contains (error->message, "this request up to $0.000063");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  engine = sluice_test_provider_setup (NULL);

  g_test_add_func ("/context-check/fits", test_fits);
  g_test_add_func ("/context-check/reject", test_reject);
  g_test_add_func ("/context-check/truncate", test_truncate);
  g_test_add_func ("/context-check/fallback", test_fallback);
  g_test_add_func ("/context-check/fallback-weighted", test_fallback_weighted);
  g_test_add_func ("/context-check/no-hedge-on-small-target", test_no_hedge_on_small_target);
  g_test_add_func ("/context-check/unknown-model", test_unknown_model);
  g_test_add_func ("/context-check/budget-reads-reserve", test_budget_reads_reserve);
  g_test_add_func ("/context-check/huge-variable", test_huge_variable);

  return sluice_test_provider_run (engine);
}
