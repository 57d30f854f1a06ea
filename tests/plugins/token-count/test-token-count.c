/* test-token-count.c — the token-count stage: the model it counts for
 * (the call stage's target, its first target, its own model: or
 * encoding:), exact counts for OpenAI models and marked estimates for the
 * others, where the count goes, and its configuration errors.
 *
 * Most tests drive the stage alone (the pipeline's other stages are only
 * configured); one runs a whole pipeline against the mock provider.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-provider.h"

#include <string.h>

static SluiceEngine *engine;

/* OpenAI's cookbook example: the API counted 124 prompt tokens for gpt-4o
 * and gpt-4o-mini (o200k_base), 129 for gpt-4 and gpt-3.5-turbo (cl100k_base). */
static const char cookbook_messages[] =
  "[{\"role\": \"system\", \"content\": \"You are a helpful, pattern-following assistant that translates corporate jargon into plain English.\"},"
  " {\"role\": \"system\", \"name\": \"example_user\", \"content\": \"New synergies will help drive top-line growth.\"},"
  " {\"role\": \"system\", \"name\": \"example_assistant\", \"content\": \"Things working well together will increase revenue.\"},"
  " {\"role\": \"system\", \"name\": \"example_user\", \"content\": \"Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.\"},"
  " {\"role\": \"system\", \"name\": \"example_assistant\", \"content\": \"Let's talk later when we're less busy about how to do better.\"},"
  " {\"role\": \"user\", \"content\": \"This late pivot means we don't have time to boil the ocean for the client deliverable.\"}]";

typedef struct {
  gint64      tokens;
  gboolean    estimated;
  const char *model;
} Counted;

/* Loads "token-count: @block" followed by @call (a call stage's block, or
 * NULL), runs only the token-count stage on the cookbook messages. */
static Counted
count_with (const char *block,
            const char *call)
{
  g_autofree char *yaml = g_strdup_printf ("name: counted\nstages:\n  - token-count: %s\n%s%s\n",
                                           block, call != NULL ? "  - call:\n      " : "", call != NULL ? call : "");
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine, yaml);
  g_autoptr(JsonNode) input = json_from_string ("{}", NULL);
  g_autoptr(JsonNode) messages = json_from_string (cookbook_messages, NULL);
  g_autoptr(SluiceContext) context = sluice_context_new (input);
  g_autoptr(GError) error = NULL;
  JsonObject *variables;
  Counted counted = { 0 };
  const char *model = NULL;

  sluice_context_set_messages (context, json_node_get_array (messages));
  g_assert_cmpint (sluice_stage_process (sluice_pipeline_get_stage (pipeline, 0), context, &error), ==,
                   SLUICE_VERDICT_CONTINUE);
  g_assert_no_error (error);
  counted.tokens = sluice_context_get_counted_prompt_tokens (context, &counted.estimated, &model);
  counted.model = g_intern_string (model);
  /* The same count, for the stages that read the variables. */
  variables = sluice_context_get_variables (context);
  g_assert_cmpint (json_object_get_int_member (variables, "input_tokens"), ==, counted.tokens);
  g_assert_cmpint (json_object_get_boolean_member (variables, "input_tokens_estimated"), ==, counted.estimated);
  return counted;
}

#define TARGET(provider, model) "target: {provider: " provider ", model: " model ", base_url: \"http://127.0.0.1:9/v1\", api_key: sk-test}"

static void
test_call_target (void)
{
  Counted c = count_with ("{}", TARGET ("openai", "gpt-4o-mini"));

  g_assert_cmpint (c.tokens, ==, 124);
  g_assert_false (c.estimated);
  g_assert_cmpstr (c.model, ==, "gpt-4o-mini");

  c = count_with ("{}", TARGET ("openai", "gpt-4-0613"));
  g_assert_cmpint (c.tokens, ==, 129);
  g_assert_false (c.estimated);

  /* An OpenAI-compatible server serving an OpenAI model name counts the same. */
  c = count_with ("{}", TARGET ("openai-compatible", "gpt-3.5-turbo"));
  g_assert_cmpint (c.tokens, ==, 129);
  g_assert_false (c.estimated);
}

static void
test_first_of_targets (void)
{
  Counted c = count_with ("{}",
    "targets:\n"
    "        - {provider: openai, model: gpt-4, base_url: \"http://127.0.0.1:9/v1\", api_key: sk-test}\n"
    "        - {provider: anthropic, model: claude-haiku-4-5, base_url: \"http://127.0.0.1:9/v1\", api_key: sk-test}");

  g_assert_cmpint (c.tokens, ==, 129);
  g_assert_false (c.estimated);
  g_assert_cmpstr (c.model, ==, "gpt-4");
}

static void
test_own_model_and_encoding (void)
{
  Counted c = count_with ("{model: gpt-4.1-mini}", TARGET ("openai", "gpt-4"));

  g_assert_cmpint (c.tokens, ==, 124);
  g_assert_false (c.estimated);
  g_assert_cmpstr (c.model, ==, "gpt-4.1-mini");

  /* encoding: counts exactly with it, whatever the model. */
  c = count_with ("{encoding: cl100k_base}", TARGET ("anthropic", "claude-sonnet-4-5"));
  g_assert_cmpint (c.tokens, ==, 129);
  g_assert_false (c.estimated);

  c = count_with ("{encoding: o200k_base}", NULL);
  g_assert_cmpint (c.tokens, ==, 124);
  g_assert_null (c.model);
}

/* No local tokenizer: the o200k_base count times the safety factor,
 * rounded up, and marked as an estimate. */
static void
test_estimate_for_other_models (void)
{
  Counted c = count_with ("{}", TARGET ("anthropic", "claude-haiku-4-5"));

  g_assert_cmpint (c.tokens, ==, 137);   /* 124 * 1.1 = 136.4 */
  g_assert_true (c.estimated);
  g_assert_cmpstr (c.model, ==, "claude-haiku-4-5");

  c = count_with ("{safety_factor: 1.5}", TARGET ("gemini", "gemini-2.5-flash"));
  g_assert_cmpint (c.tokens, ==, 186);
  g_assert_true (c.estimated);

  c = count_with ("{model: llama3.2, provider: openai-compatible, safety_factor: 1}", NULL);
  g_assert_cmpint (c.tokens, ==, 124);
  g_assert_true (c.estimated);
}

static void
test_no_messages (void)
{
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine, "name: empty\nstages:\n  - token-count: {model: gpt-4o}\n");
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{}");
  const GError *error = sluice_context_get_error (context);

  g_assert_nonnull (error);
  sluice_test_assert_contains (error->message, "there are no messages to count");
  g_assert_cmpint (sluice_context_get_counted_prompt_tokens (context, NULL, NULL), ==, -1);
}

static void
assert_refused (const char *block,
                const char *message)
{
  g_autofree char *yaml = g_strdup_printf ("name: bad\nstages:\n  - token-count: %s\n", block);
  g_autofree char *path = sluice_test_write_file ("pipeline.yaml", yaml);
  g_autoptr(GError) error = NULL;
  g_autoptr(SluicePipeline) pipeline = sluice_pipeline_new_from_file (engine, path, &error);

  g_assert_null (pipeline);
  g_assert_nonnull (error);
  sluice_test_assert_contains (error->message, message);
}

static void
test_configuration_errors (void)
{
  assert_refused ("{}", "no model to count for: give 'model' (or 'encoding'), or put a call stage with a target in the pipeline");
  assert_refused ("{model: gpt-4o, safety_factor: 0.5}", "safety_factor");
  assert_refused ("{encoding: p50k_base}", "encoding");
  assert_refused ("{model: gpt-4o, modle: x}", "modle");
}

/* A whole pipeline: assemble, token-count, call. The count is that of
 * the messages the call sends, and the budget's estimate could use it. */
static void
test_in_a_pipeline (void)
{
  g_autofree char *url = sluice_test_mock_start ("--seed", "1", NULL);
  g_autofree char *yaml = g_strdup_printf (
    "name: counted\n"
    "stages:\n"
    "  - assemble: {system: Be brief., user: \"{{text}}\"}\n"
    "  - token-count: {}\n"
    "  - call:\n"
    "      target: {provider: openai, model: gpt-4o-mini, base_url: \"%s/v1\", api_key: sk-test}\n"
    "      retry: {max_attempts: 1}\n", url);
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine, yaml);
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{\"text\": \"Hello, how are you?\"}");
  gboolean estimated = TRUE;

  g_assert_no_error (sluice_context_get_error (context));
  /* 3 + "system" + "Be brief." (3) + 3 + "user" + "Hello, how are you?" (6) + 3 */
  g_assert_cmpint (sluice_context_get_counted_prompt_tokens (context, &estimated, NULL), ==, 20);
  g_assert_false (estimated);
  sluice_test_mock_stop ();
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  engine = sluice_test_provider_setup (NULL);

  g_test_add_func ("/token-count/call-target", test_call_target);
  g_test_add_func ("/token-count/first-of-targets", test_first_of_targets);
  g_test_add_func ("/token-count/own-model-and-encoding", test_own_model_and_encoding);
  g_test_add_func ("/token-count/estimate-for-other-models", test_estimate_for_other_models);
  g_test_add_func ("/token-count/no-messages", test_no_messages);
  g_test_add_func ("/token-count/configuration-errors", test_configuration_errors);
  g_test_add_func ("/token-count/in-a-pipeline", test_in_a_pipeline);

  return sluice_test_provider_run (engine);
}
