/* test-openai.c — the openai provider on the wire: real recorded response
 * bodies (served by the mock provider), error classification, request
 * shape, transport failures, cancellation, and that the key never shows.
 *
 * The recorded bodies are read at run time from the shared test data
 * ($SLUICE_SHARED_TESTDATA/provider-samples/openai); without them the whole
 * test is skipped (exit status 77).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-provider.h"

#include <string.h>

#define TEST_KEY "sk-sluice-test-P8w2Lq5Hn7Jd3Vc6"

static SluiceEngine *engine;

/* ---- harness -------------------------------------------------------------------- */

/* A provider aimed at base_url with the test key and the target members
 * in @extra: a JSON fragment that starts with a comma, or "". */
static SluiceProvider *
provider_with (const char *base_url,
               const char *extra)
{
  return sluice_test_provider_new (engine, "openai",
                                   "{\"provider\": \"openai\", \"model\": \"gpt-4o-mini\","
                                   " \"base_url\": \"%s\", \"api_key\": \"" TEST_KEY "\"%s}", base_url, extra);
}

static SluiceProvider *
provider_for (const char *base_url)
{
  return provider_with (base_url, "");
}

#define STREAMING ", \"stream\": true"
#define SSE "text/event-stream"

/* Events of a streamed answer. */
#define STREAM_CHUNK(delta, reason) \
  "data: {\"id\":\"chatcmpl-f\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\"," \
  "\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" reason "}]}\n\n"
#define STREAM_TEXT(text) STREAM_CHUNK ("{\"content\":\"" text "\"}", "null")
#define STREAM_STOP STREAM_CHUNK ("{}", "\"stop\"")
#define STREAM_USAGE \
  "data: {\"id\":\"chatcmpl-f\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\"," \
  "\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n"

/* ---- recorded answers ---------------------------------------------------------------- */

static void
test_sample_answers (void)
{
  g_autofree char *text = sluice_test_read_sample ("chat_completion_text.json");
  g_autofree char *nano = sluice_test_read_sample ("chat_completion_gpt-4.1-nano.json");
  g_autofree char *length = sluice_test_read_sample ("chat_completion_finish_length.json");
  g_autofree char *n3 = sluice_test_read_sample ("chat_completion_n3_choices.json");
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<text>", sluice_test_status_step (200, text, NULL, NULL),
    /* An empty x-request-id: the body's id is used instead. */
    "<nano>", sluice_test_status_step (200, nano, NULL, "{\"x-request-id\": \"\"}"),
    "<length>", sluice_test_status_step (200, length, NULL, NULL),
    "<n3>", sluice_test_status_step (200, n3, NULL, NULL),
    NULL);
  g_autoptr(SluiceProvider) provider = provider_for (url);
  SluiceResponse *r;

  r = sluice_test_send_text (provider, "<text>");
  g_assert_null (sluice_response_get_error (r));
  g_assert_cmpuint (sluice_response_get_http_status (r), ==, 200);
  g_assert_cmpstr (sluice_response_get_text (r), ==,
                   "I'm unable to provide real-time weather updates. To get the current weather in "
                   "San Francisco, I recommend checking a reliable weather website or app like the "
                   "Weather Channel or a local news station.");
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "stop");
  g_assert_cmpstr (sluice_response_get_model (r), ==, "gpt-4o-2024-08-06");
  g_assert_cmpstr (sluice_response_get_request_id (r), ==, "req_mock_1");
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 14);
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 37);
  g_assert_cmpint (sluice_response_get_cached_tokens (r), ==, 0);
  g_assert_cmpint (sluice_response_get_reasoning_tokens (r), ==, 0);
  g_assert_false (sluice_response_get_usage_estimated (r));
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, -1);
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<nano>");
  g_assert_null (sluice_response_get_error (r));
  g_assert_true (g_str_has_prefix (sluice_response_get_text (r), "**Holiday Name:** Galaxy Day  \n\n"));
  g_assert_true (g_str_has_suffix (sluice_response_get_text (r), "look up and dream beyond our world."));
  g_assert_cmpstr (sluice_response_get_model (r), ==, "gpt-4.1-nano-2025-04-14");
  g_assert_cmpstr (sluice_response_get_request_id (r), ==, "chatcmpl-D8Z5f52zQqikDBEKQMQoYcWMcWPeU");
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 16);
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 363);
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<length>");
  g_assert_null (sluice_response_get_error (r));
  g_assert_cmpstr (sluice_response_get_text (r), ==, "{\"");
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "length");
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 1);
  g_object_unref (r);

  /* n=3: the first choice is the answer. */
  r = sluice_test_send_text (provider, "<n3>");
  g_assert_cmpstr (sluice_response_get_text (r), ==, "{\"city\":\"San Francisco\",\"temperature\":64,\"units\":\"f\"}");
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 79);
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 44);
  g_object_unref (r);

  sluice_test_mock_stop ();
}

static void
test_sample_tool_calls_and_refusal (void)
{
  g_autofree char *tools = sluice_test_read_sample ("chat_completion_parallel_tool_calls.json");
  g_autofree char *refusal = sluice_test_read_sample ("chat_completion_refusal.json");
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<tools>", sluice_test_status_step (200, tools, NULL, NULL),
    "<refusal>", sluice_test_status_step (200, refusal, NULL, NULL),
    NULL);
  g_autoptr(SluiceProvider) provider = provider_for (url);
  SluiceResponse *r;

  r = sluice_test_send_text (provider, "<tools>");
  g_assert_null (sluice_response_get_error (r));
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "tool_call");
  g_assert_cmpstr (sluice_response_get_text (r), ==,
                   "{\"city\": \"Edinburgh\", \"country\": \"GB\", \"units\": \"c\"}");
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 149);
  g_object_unref (r);

  /* A refusal is the content filter's outcome; its tokens were billed. */
  r = sluice_test_send_text (provider, "<refusal>");
  sluice_test_assert_failed (r, SLUICE_ERROR_CONTENT_FILTER, 200, NULL);
  g_assert_false (sluice_error_code_is_retryable (sluice_response_get_error (r)->code));
  g_assert_cmpstr (sluice_response_get_error (r)->message, ==,
                   "the model refused: I'm very sorry, but I can't assist with that.");
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "content_filter");
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 79);
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 12);
  g_object_unref (r);

  sluice_test_mock_stop ();
}

static void
test_content_filter_finish (void)
{
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<filtered>", sluice_test_status_step (200,
      "{\"id\":\"chatcmpl-1\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,"
      "\"message\":{\"role\":\"assistant\",\"content\":\"Partial\"},\"finish_reason\":\"content_filter\"}],"
      "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1}}", NULL, NULL),
    NULL);
  g_autoptr(SluiceProvider) provider = provider_for (url);
  g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, "<filtered>");

  sluice_test_assert_failed (r, SLUICE_ERROR_CONTENT_FILTER, 200, NULL);
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "content_filter");
  g_assert_cmpstr (sluice_response_get_text (r), ==, "Partial");
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 1);
  sluice_test_mock_stop ();
}

/* ---- recorded streams ------------------------------------------------------------------ */

/* The chunks file as it was on the wire: the recorder kept only each
 * event's data and dropped the [DONE]. */
static char *
sse_from_jsonl (const char *jsonl)
{
  g_auto(GStrv) lines = g_strsplit (jsonl, "\n", -1);
  GString *sse = g_string_new (NULL);

  for (guint i = 0; lines[i] != NULL; i++)
    if (*lines[i] != '\0')
      g_string_append_printf (sse, "data: %s\n\n", lines[i]);
  g_string_append (sse, "data: [DONE]\n\n");
  return g_string_free (sse, FALSE);
}

/* The stream without its usage event: what a server sends that ignores
 * stream_options.include_usage. */
static char *
sse_without_usage (const char *sse)
{
  g_auto(GStrv) events = g_strsplit (sse, "\n\n", -1);
  GString *out = g_string_new (NULL);

  for (guint i = 0; events[i] != NULL; i++)
    if (*events[i] != '\0' && strstr (events[i], "\"usage\":") == NULL)
      g_string_append_printf (out, "%s\n\n", events[i]);
  return g_string_free (out, FALSE);
}

typedef struct
{
  const char     *file;
  const char     *headers;        /* the answer's extra headers */
  SluiceErrorCode code;           /* 0: an answer */
  const char     *message;
  const char     *text;           /* NULL: the four below say it */
  gsize           text_bytes;
  const char     *text_start;
  const char     *text_end;
  const char     *text_sha256;
  const char     *finish_reason;
  const char     *tool_id;        /* the answer's one tool call, if any */
  const char     *tool_name;
  const char     *tool_arguments;
  const char     *model;
  const char     *request_id;
  gint64          prompt_tokens;
  gint64          completion_tokens;
} StreamSample;

/* An empty x-request-id: the chunks' id is the request id. */
#define NO_ID "{\"x-request-id\": \"\"}"

/* Read by eye from the recordings (see SOURCES.md). */
static const StreamSample stream_samples[] = {
  /* The header's request id wins over the chunks' id. */
  { "stream_text_with_usage.sse", "{\"x-request-id\": \"req_stream_1\"}", 0, NULL,
    "I'm unable to provide real-time weather updates. To get the current weather in San Francisco, "
    "I recommend checking a reliable weather website or a weather app.", 159, NULL, NULL, NULL,
    "stop", NULL, NULL, NULL, "gpt-4o-2024-08-06", "req_stream_1", 14, 30 },
  { "stream_json_content.sse", NO_ID, 0, NULL,
    "{\"city\":\"San Francisco\",\"temperature\":61,\"units\":\"f\"}", 53, NULL, NULL, NULL,
    "stop", NULL, NULL, NULL, "gpt-4o-2024-08-06", "chatcmpl-ABfw1e5abtU8OwGr15vOreYVb2MiF", 79, 14 },
  { "stream_finish_length.sse", NO_ID, 0, NULL, "{\"", 2, NULL, NULL, NULL,
    "length", NULL, NULL, NULL, "gpt-4o-2024-08-06", "chatcmpl-ABfw3Oqj8RD0z6aJiiX37oTjV2HFh", 79, 1 },
  /* Refusal deltas instead of content: the content filter's outcome, and
   * billed like any answer. */
  { "stream_refusal.sse", NO_ID, SLUICE_ERROR_CONTENT_FILTER,
    "the model refused: I'm sorry, I can't assist with that request.", NULL, 0, NULL, NULL, NULL,
    "content_filter", NULL, NULL, NULL, "gpt-4o-2024-08-06", "chatcmpl-ABfw4IfQfCCrcuybFm41wJyxjbkz7", 79, 11 },
  /* logprobs on every chunk are not text. */
  { "stream_logprobs.sse", NO_ID, 0, NULL, "Foo!", 4, NULL, NULL, NULL,
    "stop", NULL, NULL, NULL, "gpt-4o-2024-08-06", "chatcmpl-ABfw5EzoqmfXjnnsXY7Yd8OC6tb3c", 9, 2 },
  /* Arguments in ten fragments; the call is the answer, so its arguments are the text. */
  { "stream_tool_call.sse", NO_ID, 0, NULL, "{\"city\":\"San Francisco\",\"state\":\"CA\"}", 37, NULL, NULL, NULL,
    "tool_call", "call_CTf1nWJLqSeRgDqaCG27xZ74", "get_weather", "{\"city\":\"San Francisco\",\"state\":\"CA\"}",
    "gpt-4o-2024-08-06", "chatcmpl-ABfwCgi41eStOcARjZq97ohCEGBPO", 48, 19 },
  /* 303 chunks with "usage": null and obfuscation padding; 1724 characters,
   * some of them two and three bytes long ("’", "—"). */
  { "stream_gpt-4.1-nano.chunks.jsonl", NO_ID, 0, NULL, NULL, 1730,
    "**Holiday Name:** Harmony Day\n\n**Date:** Celebrated annually on the first Saturday of May\n\n",
    "we are all connected through shared human experiences and mutual respect.",
    "53b2d9e583d02b3ff0a0e83be5beb61ce1d16ccddc7ab9f033e72ec8ef55c8e4",
    "stop", NULL, NULL, NULL, "gpt-4.1-nano-2025-04-14", "chatcmpl-D8Z5oo6uDh67AD85p73ksdT1KxhE0", 16, 300 },
};

static void
assert_stream_sample (const StreamSample *sample,
                      SluiceResponse     *r,
                      gint64              elapsed_us)
{
  const GError *error = sluice_response_get_error (r);
  const char *text = sluice_response_get_text (r);
  JsonArray *calls = sluice_response_get_tool_calls (r);

  g_test_message ("%s", sample->file);
  g_assert_cmpuint (sluice_response_get_http_status (r), ==, 200);
  g_assert_true (sluice_response_get_streamed (r));
  g_assert_cmpstr (sluice_response_get_model (r), ==, sample->model);
  g_assert_cmpstr (sluice_response_get_request_id (r), ==, sample->request_id);
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, sample->finish_reason);
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, sample->prompt_tokens);
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, sample->completion_tokens);
  g_assert_cmpint (sluice_response_get_cached_tokens (r), ==, 0);
  g_assert_cmpint (sluice_response_get_reasoning_tokens (r), ==, 0);
  g_assert_false (sluice_response_get_usage_estimated (r));
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, -1);

  if (sample->code != 0)
    {
      g_assert_error ((GError *) error, SLUICE_ERROR, (gint) sample->code);
      g_assert_cmpstr (error->message, ==, sample->message);
      g_assert_false (sluice_error_code_is_retryable (sample->code));
      g_assert_null (text);
      g_assert_true (calls == NULL || json_array_get_length (calls) == 0);
      return;
    }

  g_assert_no_error ((GError *) error);
  g_assert_nonnull (text);
  g_assert_cmpuint (strlen (text), ==, sample->text_bytes);
  if (sample->text != NULL)
    g_assert_cmpstr (text, ==, sample->text);
  else
    {
      g_autofree char *digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, text, -1);

      g_assert_true (g_str_has_prefix (text, sample->text_start));
      g_assert_true (g_str_has_suffix (text, sample->text_end));
      g_assert_true (g_utf8_validate (text, -1, NULL));
      g_assert_cmpstr (digest, ==, sample->text_sha256);
    }

  if (sample->tool_name != NULL)
    {
      JsonObject *call;

      g_assert_nonnull (calls);
      g_assert_cmpuint (json_array_get_length (calls), ==, 1);
      call = json_array_get_object_element (calls, 0);
      g_assert_cmpstr (sluice_json_get_string (call, "id"), ==, sample->tool_id);
      g_assert_cmpstr (sluice_json_get_string (call, "name"), ==, sample->tool_name);
      g_assert_cmpstr (sluice_json_get_string (call, "arguments"), ==, sample->tool_arguments);
    }
  else
    g_assert_true (calls == NULL || json_array_get_length (calls) == 0);

  /* The first token came during the exchange, not before it nor after. */
  g_assert_cmpint (sluice_response_get_ttft_us (r), >=, 0);
  g_assert_cmpint (sluice_response_get_ttft_us (r), <=, elapsed_us);
}

static void
test_sample_streams (void)
{
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autofree char *with_usage = sluice_test_read_sample ("stream_text_with_usage.sse");
  g_autofree char *no_usage = sse_without_usage (with_usage);
  g_autofree char *url = NULL;
  g_autoptr(SluiceProvider) provider = NULL;

  /* Every recorded stream has its row: a new recording fails here until it does. */
  g_assert_cmpuint (sluice_test_assert_samples_listed (stream_samples, G_N_ELEMENTS (stream_samples),
                                                       sizeof stream_samples[0], "stream_"),
                    ==, G_N_ELEMENTS (stream_samples));

  for (guint i = 0; i < G_N_ELEMENTS (stream_samples); i++)
    {
      g_autofree char *marker = g_strdup_printf ("<%s>", stream_samples[i].file);
      g_autofree char *recorded = sluice_test_read_sample (stream_samples[i].file);
      g_autofree char *body = g_str_has_suffix (stream_samples[i].file, ".jsonl")
        ? sse_from_jsonl (recorded) : g_strdup (recorded);

      sluice_test_add_rule (rules, marker, sluice_test_status_step (200, body, SSE, stream_samples[i].headers));
    }
  sluice_test_add_rule (rules, "<no-usage>", sluice_test_status_step (200, no_usage, SSE, NO_ID));
  url = sluice_test_mock_start_rules (rules, NULL);
  provider = provider_with (url, STREAMING);

  for (guint i = 0; i < G_N_ELEMENTS (stream_samples); i++)
    {
      g_autofree char *marker = g_strdup_printf ("<%s>", stream_samples[i].file);
      gint64 start = g_get_monotonic_time ();
      g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, marker);

      assert_stream_sample (&stream_samples[i], r, g_get_monotonic_time () - start);
    }

  /* Without a usage event the counts are estimates, marked as such. */
  {
    g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, "<no-usage>");
    const char *text = stream_samples[0].text;

    g_assert_null (sluice_response_get_error (r));
    g_assert_cmpstr (sluice_response_get_text (r), ==, text);
    g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "stop");
    g_assert_cmpstr (sluice_response_get_request_id (r), ==, "chatcmpl-ABfw031mOJeYCSHe4yI2ZjOA6kMJL");
    SluiceTokenizer *o200k = sluice_tokenizer_get ("o200k_base", NULL);

    g_assert_true (sluice_response_get_usage_estimated (r));
    /* gpt-4o-mini has a local tokenizer: counted as OpenAI counts, with
     * the chat framing (3 a message, 3 for the reply, 1 for each role). */
    g_assert_cmpint (sluice_response_get_completion_tokens (r), ==,
                     sluice_tokenizer_count (o200k, text, -1, SLUICE_SPECIAL_TOKENS_AS_TEXT, NULL));
    g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==,
                     3 + 3 + 1 + sluice_tokenizer_count (o200k, "Be brief.", -1, SLUICE_SPECIAL_TOKENS_AS_TEXT, NULL) +
                     3 + 1 + sluice_tokenizer_count (o200k, "<no-usage>", -1, SLUICE_SPECIAL_TOKENS_AS_TEXT, NULL));
    g_assert_true (sluice_response_get_streamed (r));
  }

  sluice_test_mock_stop ();
}

static void
test_sample_errors (void)
{
  g_autofree char *overflow = sluice_test_read_sample ("error_400_context_length_exceeded.json");
  g_autofree char *parameter = sluice_test_read_sample ("error_400_unsupported_parameter.json");
  g_autofree char *value = sluice_test_read_sample ("error_400_unsupported_value.json");
  g_autofree char *quota = sluice_test_read_sample ("error_429_insufficient_quota.json");
  g_autofree char *limit = sluice_test_read_sample ("error_429_rate_limit_exceeded.json");
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<overflow>", sluice_test_status_step (400, overflow, NULL, NULL),
    "<parameter>", sluice_test_status_step (400, parameter, NULL, NULL),
    "<value>", sluice_test_status_step (400, value, NULL, NULL),
    "<quota>", sluice_test_status_step (429, quota, NULL, NULL),
    /* No Retry-After: the reset of the exhausted limit (tokens) counts. */
    "<limit-binding>", sluice_test_status_step (429, limit, NULL,
      "{\"x-ratelimit-remaining-requests\": \"59\", \"x-ratelimit-reset-requests\": \"1s\","
      " \"x-ratelimit-remaining-tokens\": \"0\", \"x-ratelimit-reset-tokens\": \"6m0s\"}"),
    /* Neither says exhausted: the soonest reset. */
    "<limit-soonest>", sluice_test_status_step (429, limit, NULL,
      "{\"x-ratelimit-reset-requests\": \"1.5s\", \"x-ratelimit-reset-tokens\": \"20ms\"}"),
    /* Retry-After wins over the rate-limit headers. */
    "<limit-retry-after>", sluice_test_status_step (429, limit, NULL,
      "{\"Retry-After\": \"2\", \"x-ratelimit-reset-requests\": \"1m30.5s\"}"),
    NULL);
  g_autoptr(SluiceProvider) provider = provider_for (url);
  SluiceResponse *r;

  r = sluice_test_send_text (provider, "<overflow>");
  sluice_test_assert_failed (r, SLUICE_ERROR_CONTEXT_OVERFLOW, 400,
                             "HTTP 400: This model's maximum context length is 4097 tokens. However, your "
                             "messages resulted in 4363 tokens. Please reduce the length of the messages.");
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<parameter>");
  sluice_test_assert_failed (r, SLUICE_ERROR_BAD_REQUEST, 400, NULL);
  sluice_test_assert_contains (sluice_response_get_error (r)->message,
                   "HTTP 400: Unsupported parameter: 'max_tokens' is not supported with this model.");
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<value>");
  sluice_test_assert_failed (r, SLUICE_ERROR_BAD_REQUEST, 400, NULL);
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<quota>");
  sluice_test_assert_failed (r, SLUICE_ERROR_BUDGET_EXCEEDED, 429, NULL);
  g_assert_false (sluice_error_code_is_retryable (sluice_response_get_error (r)->code));
  sluice_test_assert_contains (sluice_response_get_error (r)->message, "HTTP 429: You exceeded your current quota");
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<limit-binding>");
  sluice_test_assert_failed (r, SLUICE_ERROR_RATE_LIMITED, 429, NULL);
  sluice_test_assert_contains (sluice_response_get_error (r)->message, "HTTP 429: Rate limit reached for 10KTPM-200RPM");
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, 6 * 60 * 1000);
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<limit-soonest>");
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, 20);
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<limit-retry-after>");
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, 2000);
  g_object_unref (r);

  sluice_test_mock_stop ();
}

/* ---- classification of what the mock can say ---------------------------------------- */

static void
test_status_classification (void)
{
  static const struct { guint status; SluiceErrorCode code; } cases[] = {
    { 400, SLUICE_ERROR_BAD_REQUEST }, { 401, SLUICE_ERROR_AUTH }, { 403, SLUICE_ERROR_AUTH },
    { 404, SLUICE_ERROR_NOT_FOUND }, { 408, SLUICE_ERROR_TIMEOUT }, { 409, SLUICE_ERROR_BAD_REQUEST },
    { 422, SLUICE_ERROR_BAD_REQUEST }, { 500, SLUICE_ERROR_SERVER }, { 501, SLUICE_ERROR_SERVER },
    { 502, SLUICE_ERROR_SERVER }, { 503, SLUICE_ERROR_OVERLOADED }, { 504, SLUICE_ERROR_TIMEOUT },
    { 529, SLUICE_ERROR_OVERLOADED }, { 599, SLUICE_ERROR_SERVER },
  };
  g_autoptr(GString) scenario = g_string_new ("{\"rules\": [");
  g_autofree char *url = NULL;
  g_autoptr(SluiceProvider) provider = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_string_append_printf (scenario, "%s{\"match\": \"<status:%u>\", \"then\": {\"kind\": \"status\", \"status\": %u}}",
                            i > 0 ? "," : "", cases[i].status, cases[i].status);
  g_string_append (scenario, ", {\"match\": \"<html>\", \"then\": \"html\"}"
                             ", {\"match\": \"<overloaded>\", \"then\": \"overloaded\"}"
                             ", {\"match\": \"<rate>\", \"then\": {\"kind\": \"rate_limit\", \"retry_after_ms\": 250}}]}");
  url = sluice_test_mock_start_scenario (scenario->str, NULL);
  provider = provider_for (url);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *marker = g_strdup_printf ("<status:%u>", cases[i].status);
      g_autofree char *expected = g_strdup_printf ("HTTP %u: Mock status %u.", cases[i].status, cases[i].status);
      g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, marker);

      g_test_message ("%s", marker);
      sluice_test_assert_failed (r, cases[i].code, cases[i].status, expected);
      g_assert_null (sluice_response_get_text (r));
    }

  {
    g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, "<html>");

    sluice_test_assert_failed (r, SLUICE_ERROR_SERVER, 502, "HTTP 502: an error from 127.0.0.1 (text/html)");
  }
  {
    g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, "<overloaded>");

    sluice_test_assert_failed (r, SLUICE_ERROR_OVERLOADED, 503,
                               "HTTP 503: The engine is currently overloaded, please try again later.");
  }
  {
    g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, "<rate>");

    sluice_test_assert_failed (r, SLUICE_ERROR_RATE_LIMITED, 429, NULL);
    g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, 250);
  }
  sluice_test_mock_stop ();
}

static void
test_malformed_bodies (void)
{
  g_autoptr(GString) html = g_string_new ("<html><head><title>Gateway</title></head><body>");
  g_autofree char *url = NULL;
  g_autoptr(SluiceProvider) provider = NULL;
  g_autofree char *expected = NULL;
  const char *message;
  SluiceResponse *r;

  while (html->len < 2000)
    g_string_append (html, "<p>Please wait while we check your browser.</p>\n");
  g_string_append (html, "</body></html>");
  url = sluice_test_mock_start_with_rules (
    "<html>", sluice_test_status_step (200, html->str, "text/html; charset=utf-8", NULL),
    "<list>", sluice_test_status_step (200, "{\"object\":\"list\",\"data\":[]}", NULL, NULL),
    "<empty>", sluice_test_status_step (200, "{\"id\":\"x\",\"choices\":[]}", NULL, NULL),
    "<no-content>", sluice_test_status_step (200, "{\"id\":\"x\",\"choices\":[{\"message\":{\"role\":\"assistant\","
                                                  "\"content\":null},\"finish_reason\":\"stop\"}]}", NULL, NULL),
    "<error-200>", sluice_test_status_step (200, "{\"error\":{\"message\":\"upstream failed\",\"code\":502}}",
                                            NULL, NULL),
    "<empty-body>", sluice_test_status_step (200, "", NULL, NULL),
    "<truncated>", json_node_init_string (json_node_alloc (), "malformed"),
    "<nul-body>", sluice_test_status_step (200, "{\"choices\":[{\"message\":{\"content\":\"x\\u0000y\"}}]}",
                                           NULL, NULL),
    "<big-body>", sluice_test_status_step (200, "{\"created\":18446744073709551616}", NULL, NULL),
    NULL);
  provider = provider_for (url);

  r = sluice_test_send_text (provider, "<html>");
  sluice_test_assert_failed (r, SLUICE_ERROR_MALFORMED, 200, NULL);
  message = sluice_response_get_error (r)->message;
  expected = g_strdup_printf ("an unparseable body from 127.0.0.1 (text/html, %" G_GSIZE_FORMAT " bytes): \"",
                              html->len);
  g_assert_true (g_str_has_prefix (message, expected));
  g_assert_true (g_str_has_prefix (message + strlen (expected), "<html><head><title>Gateway</title></head>"));
  /* Exactly 120 characters of the body are quoted, then an ellipsis. */
  g_assert_cmpuint (g_utf8_strlen (message + strlen (expected), -1), ==, 120 + 2);
  g_assert_true (g_str_has_suffix (message, "…\""));
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<list>");
  sluice_test_assert_failed (r, SLUICE_ERROR_MALFORMED, 200, "an answer without a choices array");
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<empty>");
  sluice_test_assert_failed (r, SLUICE_ERROR_MALFORMED, 200, "an answer with no choices");
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<no-content>");
  sluice_test_assert_failed (r, SLUICE_ERROR_MALFORMED, 200, NULL);
  g_object_unref (r);

  /* An error object inside a 200 is that error, not an answer. */
  r = sluice_test_send_text (provider, "<error-200>");
  sluice_test_assert_failed (r, SLUICE_ERROR_SERVER, 200, "an error inside a 2xx answer: upstream failed");
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<empty-body>");
  sluice_test_assert_failed (r, SLUICE_ERROR_MALFORMED, 200,
                             "an unparseable body from 127.0.0.1 (application/json, 0 bytes)");
  g_object_unref (r);

  /* The mock's "malformed": a completion cut in half. */
  r = sluice_test_send_text (provider, "<truncated>");
  sluice_test_assert_failed (r, SLUICE_ERROR_MALFORMED, 200, NULL);
  sluice_test_assert_contains (sluice_response_get_error (r)->message,
                   "an unparseable body from 127.0.0.1 (application/json, ");
  sluice_test_assert_contains (sluice_response_get_error (r)->message, "{\"id\":\"chatcmpl-mock-");
  g_object_unref (r);

  /* JSON that json-glib would change (cut "x\u0000y" to "x", wrap 2^64
   * to -1) is refused, and the message says why */
  r = sluice_test_send_text (provider, "<nul-body>");
  sluice_test_assert_failed (r, SLUICE_ERROR_MALFORMED, 200,
                             "an unparseable body from 127.0.0.1 (application/json, 48 bytes) (the string at "
                             "byte 34 holds a NUL character (at byte 36), which sluice cannot keep): "
                             "\"{\"choices\":[{\"message\":{\"content\":\"x\\u0000y\"}}]}\"");
  g_object_unref (r);
  r = sluice_test_send_text (provider, "<big-body>");
  sluice_test_assert_failed (r, SLUICE_ERROR_MALFORMED, 200,
                             "an unparseable body from 127.0.0.1 (application/json, 32 bytes) (the integer "
                             "18446744073709551616 (at byte 11) does not fit in 64 bits (-9223372036854775808 "
                             "to 9223372036854775807); send it as a string): \"{\"created\":18446744073709551616}\"");
  g_object_unref (r);

  sluice_test_mock_stop ();
}

/* ---- the request ----------------------------------------------------------------------- */

typedef struct
{
  SluiceTestCapture   request;
  guint               mode;
  const char         *events;   /* STREAM_THEN_*: the events sent, or NULL for one */
  GIOStream          *held;     /* STREAM_THEN_STALL: the connection, kept open */
} Capture;

enum { ANSWER, CUT_BODY_SHORT, CLOSE_AT_ONCE, STREAM_THEN_STALL, STREAM_THEN_HANG_UP };

static const char canned_answer[] =
  "{\"id\":\"chatcmpl-capture\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-mini-2024-07-18\","
  "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"captured\"},"
  "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":2,"
  "\"prompt_tokens_details\":{\"cached_tokens\":8},\"completion_tokens_details\":{\"reasoning_tokens\":1}}}";

static void
capture_handler (SoupServer        *server,
                 SoupServerMessage *msg,
                 const char        *path,
                 GHashTable        *query,
                 gpointer           user_data)
{
  Capture *capture = user_data;
  static const char cut[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            "Content-Length: 500\r\n\r\n{\"id\":\"chatcmpl-cut\",";
  g_autoptr(GIOStream) stream = NULL;

  sluice_test_capture_record (&capture->request, msg);
  switch (capture->mode)
    {
    case ANSWER:
      soup_server_message_set_status (msg, 200, NULL);
      soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC,
                                        canned_answer, strlen (canned_answer));
      break;
    case CUT_BODY_SHORT:
      /* Promise 500 bytes, send 20, hang up. */
      stream = soup_server_message_steal_connection (msg);
      g_output_stream_write_all (g_io_stream_get_output_stream (stream), cut, strlen (cut), NULL, NULL, NULL);
      g_io_stream_close (stream, NULL, NULL);
      break;
    case STREAM_THEN_STALL:
    case STREAM_THEN_HANG_UP:
      {
        const char *events = capture->events != NULL ? capture->events : STREAM_TEXT ("Half");
        g_autofree char *head = g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                                 "Transfer-Encoding: chunked\r\nx-request-id: req_stall\r\n\r\n"
                                                 "%zx\r\n%s\r\n", strlen (events), events);

        /* The head and the events in one chunk, then no last chunk:
         * silence, the connection kept open until the test closes it,
         * or a hang-up. */
        stream = soup_server_message_steal_connection (msg);
        g_output_stream_write_all (g_io_stream_get_output_stream (stream), head, strlen (head), NULL, NULL, NULL);
        if (capture->mode == STREAM_THEN_HANG_UP)
          g_io_stream_close (stream, NULL, NULL);
        else
          {
            g_clear_object (&capture->held);
            capture->held = g_steal_pointer (&stream);
          }
      }
      break;
    case CLOSE_AT_ONCE:
    default:
      stream = soup_server_message_steal_connection (msg);
      g_io_stream_close (stream, NULL, NULL);
      break;
    }
}

static void
capture_clear (Capture *capture)
{
  sluice_test_capture_clear (&capture->request);
  if (capture->held != NULL)
    g_io_stream_close (capture->held, NULL, NULL);
  g_clear_object (&capture->held);
}

static void
test_request_shape (void)
{
  Capture capture = { 0 };
  g_autofree char *url = NULL;
  g_autoptr(SoupServer) server = sluice_test_server_new (capture_handler, &capture, "", &url);
  g_autofree char *target = g_strdup_printf (
    "{\"provider\": \"openai\", \"model\": \"gpt-4o-mini\", \"base_url\": \"%s/v1//\","
    " \"api_key\": \"" TEST_KEY "\", \"organization\": \"org-sluice\", \"timeout\": \"5s\","
    " \"temperature\": 0.5, \"top_p\": 0.25, \"max_tokens\": 64, \"seed\": 7, \"stop\": [\"END\"],"
    " \"extra_headers\": {\"X-Sluice-Test\": \"yes\"}}", url);
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceProvider) provider = sluice_test_provider_try (engine, "openai", target, &error);
  g_autoptr(SluiceContext) context = sluice_test_context_new ("system", "Be brief.", "user", "shape?", NULL);
  g_autoptr(SluiceResponse) r = NULL;
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(JsonNode) sent_messages = NULL;
  g_autoptr(JsonNode) context_messages = NULL;

  g_assert_no_error (error);
  r = sluice_test_send (provider, context, NULL, &error);
  g_assert_no_error (error);

  g_assert_cmpstr (capture.request.method, ==, "POST");
  g_assert_cmpstr (capture.request.path, ==, "/v1/chat/completions");
  g_assert_cmpstr (soup_message_headers_get_one (capture.request.headers, "Authorization"), ==, "Bearer " TEST_KEY);
  g_assert_cmpstr (soup_message_headers_get_content_type (capture.request.headers, NULL), ==, "application/json");
  g_assert_cmpstr (soup_message_headers_get_one (capture.request.headers, "OpenAI-Organization"), ==, "org-sluice");
  g_assert_cmpstr (soup_message_headers_get_one (capture.request.headers, "X-Sluice-Test"), ==, "yes");

  object = sluice_test_capture_body (&capture.request);
  g_assert_cmpstr (json_object_get_string_member (object, "model"), ==, "gpt-4o-mini");
  g_assert_cmpfloat (json_object_get_double_member (object, "temperature"), ==, 0.5);
  g_assert_cmpfloat (json_object_get_double_member (object, "top_p"), ==, 0.25);
  g_assert_cmpint (json_object_get_int_member (object, "max_tokens"), ==, 64);
  g_assert_cmpint (json_object_get_int_member (object, "seed"), ==, 7);
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (object, "stop"), 0), ==, "END");
  sent_messages = json_node_init_array (json_node_alloc (), json_object_get_array_member (object, "messages"));
  context_messages = json_node_init_array (json_node_alloc (), sluice_context_get_messages (context));
  g_assert_true (json_node_equal (sent_messages, context_messages));
  /* Only what the API knows goes out. */
  g_assert_cmpuint (json_object_get_size (object), ==, 7);
  g_assert_null (strstr (capture.request.body, TEST_KEY));

  g_assert_null (sluice_response_get_error (r));
  g_assert_cmpstr (sluice_response_get_text (r), ==, "captured");
  g_assert_cmpstr (sluice_response_get_model (r), ==, "gpt-4o-mini-2024-07-18");
  g_assert_cmpstr (sluice_response_get_request_id (r), ==, "chatcmpl-capture");
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 20);
  g_assert_cmpint (sluice_response_get_cached_tokens (r), ==, 8);
  g_assert_cmpint (sluice_response_get_reasoning_tokens (r), ==, 1);
  capture_clear (&capture);
}

static void
test_key_reaches_the_server (void)
{
  g_autofree char *url = sluice_test_mock_start ("--require-key", TEST_KEY, NULL);
  g_autoptr(SluiceProvider) good = provider_for (url);
  g_autoptr(SluiceProvider) wrong = sluice_test_provider_new (
    engine, "openai",
    "{\"provider\": \"openai\", \"model\": \"gpt-4o-mini\", \"base_url\": \"%s\", \"api_key\": \"sk-wrong\"}", url);
  g_autoptr(SluiceResponse) ok = sluice_test_send_text (good, "The service was great");
  g_autoptr(SluiceResponse) refused = sluice_test_send_text (wrong, "The service was great");

  g_assert_null (sluice_response_get_error (ok));
  sluice_test_assert_contains (sluice_response_get_text (ok), "\"sentiment\"");
  g_assert_cmpint (sluice_response_get_prompt_tokens (ok), >, 0);
  sluice_test_assert_failed (refused, SLUICE_ERROR_AUTH, 401, NULL);
  sluice_test_assert_contains (sluice_response_get_error (refused)->message, "HTTP 401: Incorrect API key provided.");
  sluice_test_mock_stop ();
}

/* ---- transport ---------------------------------------------------------------------- */

static void
test_transport_errors (void)
{
  Capture capture = { 0 };
  g_autofree char *url = NULL;
  g_autoptr(SoupServer) server = sluice_test_server_new (capture_handler, &capture, "", &url);
  g_autoptr(SluiceProvider) provider = provider_for (url);
  g_autoptr(SluiceProvider) nowhere = NULL;
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autofree char *closed_url = NULL;
  SluiceResponse *r;

  capture.mode = CUT_BODY_SHORT;
  /* The headers came (200), the body was cut: a malformed answer. */
  r = sluice_test_send_text (provider, "cut");
  sluice_test_assert_failed (r, SLUICE_ERROR_MALFORMED, 200, NULL);
  sluice_test_assert_contains (sluice_response_get_error (r)->message, "the body from 127.0.0.1 was cut short: ");
  g_object_unref (r);

  capture.mode = CLOSE_AT_ONCE;
  r = sluice_test_send_text (provider, "hang up");
  sluice_test_assert_failed (r, SLUICE_ERROR_NETWORK, 0, NULL);
  g_object_unref (r);

  /* Connection refused: a port with no listener. */
  g_socket_bind (socket, any, TRUE, NULL);
  bound = g_socket_get_local_address (socket, NULL);
  closed_url = g_strdup_printf ("http://127.0.0.1:%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  g_socket_close (socket, NULL);
  nowhere = provider_for (closed_url);
  r = sluice_test_send_text (nowhere, "anyone?");
  sluice_test_assert_failed (r, SLUICE_ERROR_NETWORK, 0, NULL);
  sluice_test_assert_contains (sluice_response_get_error (r)->message, "request to 127.0.0.1 failed: ");
  g_object_unref (r);

  capture_clear (&capture);
}

static gboolean
cancel_later (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
test_cancellation (void)
{
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<hang>", json_node_init_string (json_node_alloc (), "hang"), NULL);
  g_autoptr(SluiceProvider) provider = provider_for (url);
  g_autoptr(SluiceContext) context = sluice_test_context_new ("system", "Be brief.", "user", "<hang>", NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceResponse) r = NULL;
  gint64 start = sluice_monotonic_ms ();

  g_timeout_add (100, cancel_later, cancellable);
  r = sluice_test_send (provider, context, cancellable, &error);
  g_assert_null (r);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (sluice_monotonic_ms () - start, <, 1000);
  sluice_test_mock_stop ();
}

/* ---- streams ----------------------------------------------------------------------------- */

static void
assert_stream_failed (SluiceResponse  *response,
                      SluiceErrorCode  code,
                      const char      *message)
{
  sluice_test_assert_failed (response, code, 200, message);
  g_assert_true (sluice_error_code_is_retryable (code));
  g_assert_true (sluice_response_get_streamed (response));
  g_assert_null (sluice_response_get_text (response));
}

static void
test_stream_faults (void)
{
  g_autofree char *limit = sluice_test_read_sample ("error_429_rate_limit_exceeded.json");
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<cut>", sluice_test_status_step (200, STREAM_TEXT ("Half") STREAM_TEXT (" an answer"), SSE, NULL),
    "<cut-after-usage>", sluice_test_status_step (200, STREAM_TEXT ("Whole") STREAM_STOP STREAM_USAGE, SSE, NULL),
    "<not-json>", sluice_test_status_step (200, STREAM_TEXT ("Half") "data: {\"id\":\"chatcmpl-f\",\"choices\":[\n\n"
                                                "data: [DONE]\n\n", SSE, NULL),
    "<error-event>", sluice_test_status_step (200,
      STREAM_TEXT ("Half")
      "data: {\"error\": {\"message\": \"The server had an error while "
      "processing your request. Sorry about that!\", \"type\": \"server_error\"}}\n\n"
      "data: [DONE]\n\n", SSE, NULL),
    "<rate>", sluice_test_status_step (429, limit, NULL, "{\"Retry-After\": \"3\"}"),
    "<plain>", sluice_test_status_step (200, canned_answer, NULL, NULL),
    NULL);
  g_autoptr(SluiceProvider) provider = provider_with (url, STREAMING);
  SluiceResponse *r;

  /* Cut before [DONE]: what came is not the whole answer. */
  r = sluice_test_send_text (provider, "<cut>");
  assert_stream_failed (r, SLUICE_ERROR_TRUNCATED,
                        "the stream from 127.0.0.1 ended after 2 events without its terminal event");
  g_assert_cmpint (sluice_response_get_ttft_us (r), >=, 0);
  g_object_unref (r);

  /* Even after the finish reason and the usage: OpenAI always ends with [DONE]. */
  r = sluice_test_send_text (provider, "<cut-after-usage>");
  assert_stream_failed (r, SLUICE_ERROR_TRUNCATED,
                        "the stream from 127.0.0.1 ended after 3 events without its terminal event");
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<not-json>");
  assert_stream_failed (r, SLUICE_ERROR_MALFORMED,
                        "the stream from 127.0.0.1 failed after 2 events: a chunk that is not a JSON object: "
                        "\"{\"id\":\"chatcmpl-f\",\"choices\":[\"");
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<error-event>");
  assert_stream_failed (r, SLUICE_ERROR_SERVER,
                        "the stream from 127.0.0.1 failed after 2 events: The server had an error while "
                        "processing your request. Sorry about that!");
  g_object_unref (r);

  /* An error answer to a stream request is read as a whole body. */
  r = sluice_test_send_text (provider, "<rate>");
  sluice_test_assert_failed (r, SLUICE_ERROR_RATE_LIMITED, 429, NULL);
  g_assert_true (sluice_error_code_is_retryable (SLUICE_ERROR_RATE_LIMITED));
  sluice_test_assert_contains (sluice_response_get_error (r)->message, "HTTP 429: Rate limit reached for 10KTPM-200RPM");
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, 3000);
  g_assert_false (sluice_response_get_streamed (r));
  g_assert_cmpint (sluice_response_get_ttft_us (r), ==, -1);
  g_object_unref (r);

  /* A server that ignores "stream": its JSON answer is the answer. */
  r = sluice_test_send_text (provider, "<plain>");
  g_assert_null (sluice_response_get_error (r));
  g_assert_cmpstr (sluice_response_get_text (r), ==, "captured");
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 20);
  g_assert_false (sluice_response_get_streamed (r));
  g_object_unref (r);

  sluice_test_mock_stop ();
}

/* Tool calls by index: a gap is filled, but an answer holds at most 128
 * calls, so a stream that names a far index, or climbs 64 at a time as
 * the old gap limit let it, fails at once instead of growing. */
#define TOOL_CHUNK(index) \
  STREAM_CHUNK ("{\"tool_calls\":[{\"index\":" index ",\"id\":\"call_" index "\",\"type\":\"function\"," \
                "\"function\":{\"name\":\"lookup\",\"arguments\":\"{}\"}}]}", "null")
#define TOOL_END STREAM_CHUNK ("{}", "\"tool_calls\"") STREAM_USAGE "data: [DONE]\n\n"

static void
test_stream_tool_call_index (void)
{
  g_autoptr(GString) climb = g_string_new (NULL);
  g_autofree char *url = NULL;
  g_autoptr(SluiceProvider) provider = NULL;
  SluiceResponse *r;
  JsonArray *calls;
  gint64 start;

  for (guint i = 0; i <= 2000; i++)
    {
      g_autofree char *index = g_strdup_printf ("%u", i * 64);
      g_autofree char *delta = g_strdup_printf ("{\"tool_calls\":[{\"index\":%s,\"id\":\"call_%s\","
                                                "\"function\":{\"name\":\"lookup\",\"arguments\":\"{}\"}}]}",
                                                index, index);

      g_string_append_printf (climb, "data: {\"id\":\"chatcmpl-f\",\"model\":\"gpt-4o-mini\",\"choices\":"
                                     "[{\"index\":0,\"delta\":%s,\"finish_reason\":null}]}\n\n", delta);
    }
  g_string_append (climb, TOOL_END);
  url = sluice_test_mock_start_with_rules (
    "<index-200>", sluice_test_status_step (200, TOOL_CHUNK ("200") TOOL_END, SSE, NULL),
    "<index-128>", sluice_test_status_step (200, TOOL_CHUNK ("128") TOOL_END, SSE, NULL),
    "<index-127>", sluice_test_status_step (200, TOOL_CHUNK ("127") TOOL_END, SSE, NULL),
    "<climb>", sluice_test_status_step (200, climb->str, SSE, NULL),
    NULL);
  provider = provider_with (url, STREAMING);

  r = sluice_test_send_text (provider, "<index-200>");
  assert_stream_failed (r, SLUICE_ERROR_MALFORMED,
                        "the stream from 127.0.0.1 failed after 1 events: a tool call at index 200 (at most 128 are read)");
  g_assert_null (sluice_response_get_tool_calls (r));
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<index-128>");
  assert_stream_failed (r, SLUICE_ERROR_MALFORMED,
                        "the stream from 127.0.0.1 failed after 1 events: a tool call at index 128 (at most 128 are read)");
  g_object_unref (r);

  /* The last index read: the gap before it holds no calls. */
  r = sluice_test_send_text (provider, "<index-127>");
  g_assert_no_error ((GError *) sluice_response_get_error (r));
  calls = sluice_response_get_tool_calls (r);
  g_assert_nonnull (calls);
  g_assert_cmpuint (json_array_get_length (calls), ==, 1);
  g_assert_cmpstr (sluice_json_get_string (json_array_get_object_element (calls, 0), "id"), ==, "call_127");
  g_assert_cmpstr (sluice_json_get_string (json_array_get_object_element (calls, 0), "name"), ==, "lookup");
  g_assert_cmpstr (sluice_response_get_text (r), ==, "{}");
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "tool_call");
  g_object_unref (r);

  /* 0, 64, 128, ...: the third event is refused; the other 1998 are not read. */
  start = sluice_monotonic_ms ();
  r = sluice_test_send_text (provider, "<climb>");
  assert_stream_failed (r, SLUICE_ERROR_MALFORMED,
                        "the stream from 127.0.0.1 failed after 3 events: a tool call at index 128 (at most 128 are read)");
  g_assert_cmpint (sluice_monotonic_ms () - start, <, 1000);
  g_object_unref (r);

  sluice_test_mock_stop ();
}

/* After [DONE] nothing belongs to the answer: not more text, not an
 * error, not garbage. */
static void
test_stream_events_after_done (void)
{
#define WHOLE STREAM_TEXT ("Whole") STREAM_STOP STREAM_USAGE "data: [DONE]\n\n"
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<more-text>", sluice_test_status_step (200, WHOLE STREAM_TEXT (" and more"), SSE, NULL),
    "<not-json>", sluice_test_status_step (200, WHOLE "data: <html>bye</html>\n\n", SSE, NULL),
    "<error>", sluice_test_status_step (200, WHOLE "data: {\"error\": {\"message\": \"late\", "
                                                   "\"type\": \"server_error\"}}\n\n", SSE, NULL),
    NULL);
#undef WHOLE
  g_autoptr(SluiceProvider) provider = provider_with (url, STREAMING);
  static const char * const markers[] = { "<more-text>", "<not-json>", "<error>" };

  for (guint i = 0; i < G_N_ELEMENTS (markers); i++)
    {
      g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, markers[i]);

      g_test_message ("%s", markers[i]);
      g_assert_no_error ((GError *) sluice_response_get_error (r));
      g_assert_cmpstr (sluice_response_get_text (r), ==, "Whole");
      g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "stop");
      g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 5);
      g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 2);
      g_assert_true (sluice_response_get_streamed (r));
    }
  sluice_test_mock_stop ();
}

/* Media types are case-insensitive (RFC 9110): a stream is a stream
 * whatever the case of its Content-Type. */
static void
test_stream_content_type_case (void)
{
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<mixed-case>", sluice_test_status_step (200, STREAM_TEXT ("Cased") STREAM_STOP STREAM_USAGE "data: [DONE]\n\n",
                                             "Text/Event-Stream; charset=UTF-8", NULL),
    NULL);
  g_autoptr(SluiceProvider) provider = provider_with (url, STREAMING);
  g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, "<mixed-case>");

  g_assert_no_error ((GError *) sluice_response_get_error (r));
  g_assert_true (sluice_response_get_streamed (r));
  g_assert_cmpstr (sluice_response_get_text (r), ==, "Cased");
  g_assert_cmpint (sluice_response_get_ttft_us (r), >=, 0);
  sluice_test_mock_stop ();
}

/* A rate limit reported inside a 200 stream: only the body tells, and it
 * says rate_limit_exceeded (the type is the limit's, "tokens"). */
static void
test_stream_rate_limit_error (void)
{
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<rate>", sluice_test_status_step (200, STREAM_TEXT ("Half")
      "data: {\"error\": {\"message\": \"Rate limit reached for gpt-4o-mini on tokens per min (TPM)\", "
      "\"type\": \"tokens\", \"code\": \"rate_limit_exceeded\"}}\n\n" "data: [DONE]\n\n", SSE, NULL),
    NULL);
  g_autoptr(SluiceProvider) provider = provider_with (url, STREAMING);
  g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, "<rate>");

  assert_stream_failed (r, SLUICE_ERROR_RATE_LIMITED,
                        "the stream from 127.0.0.1 failed after 2 events: "
                        "Rate limit reached for gpt-4o-mini on tokens per min (TPM)");
  sluice_test_mock_stop ();
}

/* Token counts no request can have (the largest int64; as doubles, 1e300,
 * which cannot be cast, and 5e18, which can) are not believed: estimated
 * instead, and marked so; nothing overflows. */
static void
test_usage_not_believed (void)
{
#define ANSWER_WITH_USAGE(usage) \
  "{\"id\":\"chatcmpl-u\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"message\":" \
  "{\"role\":\"assistant\",\"content\":\"Counted.\"},\"finish_reason\":\"stop\"}],\"usage\":" usage "}"
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<int64-max>", sluice_test_status_step (200, ANSWER_WITH_USAGE (
      "{\"prompt_tokens\":9223372036854775807,\"completion_tokens\":2,"
      "\"prompt_tokens_details\":{\"cached_tokens\":9223372036854775807},"
      "\"completion_tokens_details\":{\"reasoning_tokens\":9223372036854775807}}"), NULL, NULL),
    "<double>", sluice_test_status_step (200, ANSWER_WITH_USAGE (
      "{\"prompt_tokens\":1e300,\"completion_tokens\":5e18}"), NULL, NULL),
    "<stream>", sluice_test_status_step (200, STREAM_TEXT ("Counted.") STREAM_STOP
      "data: {\"id\":\"chatcmpl-f\",\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":"
      "{\"prompt_tokens\":9223372036854775807,\"completion_tokens\":9223372036854775807}}\n\n"
      "data: [DONE]\n\n", SSE, NULL),
    NULL);
#undef ANSWER_WITH_USAGE
  g_autoptr(SluiceProvider) plain = provider_for (url);
  g_autoptr(SluiceProvider) streaming = provider_with (url, STREAMING);
  static const struct { const char *marker; gboolean stream; gint64 completion; } cases[] = {
    { "<int64-max>", FALSE, 2 },   /* the believable count is kept */
    { "<double>", FALSE, -1 },     /* -1: estimated */
    { "<stream>", TRUE, -1 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(SluiceResponse) r = sluice_test_send_text (cases[i].stream ? streaming : plain, cases[i].marker);
      gint64 prompt = sluice_response_get_prompt_tokens (r);

      g_test_message ("%s", cases[i].marker);
      g_assert_no_error ((GError *) sluice_response_get_error (r));
      g_assert_cmpstr (sluice_response_get_text (r), ==, "Counted.");
      g_assert_true (sluice_response_get_usage_estimated (r));
      /* The prompt's count (gpt-4o-mini: o200k_base): the two messages, a few tokens. */
      g_assert_cmpint (prompt, >=, sluice_estimate_tokens ("Be brief.") + sluice_estimate_tokens (cases[i].marker));
      g_assert_cmpint (prompt, <, 100);
      g_assert_cmpint (sluice_response_get_completion_tokens (r), ==,
                       cases[i].completion >= 0 ? cases[i].completion
                                                : sluice_tokenizer_count (sluice_tokenizer_get ("o200k_base", NULL), "Counted.", -1,
                                                                          SLUICE_SPECIAL_TOKENS_AS_TEXT, NULL));
      g_assert_cmpint (sluice_response_get_cached_tokens (r), ==, 0);
      g_assert_cmpint (sluice_response_get_reasoning_tokens (r), ==, 0);
    }
  sluice_test_mock_stop ();
}

static void
assert_member_equals (JsonObject *object,
                      const char *member,
                      const char *expected_json)
{
  g_autoptr(JsonNode) expected = sluice_json_from_string (expected_json, -1, NULL);
  JsonNode *actual = json_object_get_member (object, member);
  g_autofree char *actual_json = actual != NULL ? sluice_json_to_string (actual) : NULL;

  g_test_message ("%s: %s", member, actual_json);
  g_assert_nonnull (expected);
  g_assert_nonnull (actual);
  g_assert_true (json_node_equal (actual, expected));
}

static void
test_stream_request_shape (void)
{
  static const char schema[] =
    "{\"type\": \"object\", \"properties\": {\"sentiment\": {\"type\": \"string\", \"enum\": [\"positive\", "
    "\"negative\"]}}, \"required\": [\"sentiment\"], \"additionalProperties\": false}";
  static const char tools[] =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", "
    "\"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}]";
  static const char tool_choice[] = "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"}}";
  Capture capture = { 0 };
  g_autofree char *url = NULL;
  g_autoptr(SoupServer) server = sluice_test_server_new (capture_handler, &capture, "", &url);
  g_autofree char *extra = g_strdup_printf (STREAMING ", \"output_schema\": %s, \"tools\": %s, \"tool_choice\": %s",
                                            schema, tools, tool_choice);
  g_autofree char *format = g_strdup_printf ("{\"type\": \"json_schema\", \"json_schema\": {\"name\": \"answer\","
                                             " \"strict\": true, \"schema\": %s}}", schema);
  g_autoptr(SluiceProvider) provider = provider_with (url, extra);
  g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, "stream shape?");
  g_autoptr(JsonObject) object = NULL;

  g_assert_cmpstr (capture.request.path, ==, "/chat/completions");
  g_assert_cmpstr (soup_message_headers_get_one (capture.request.headers, "Accept"), ==,
                   "text/event-stream, application/json");
  g_assert_cmpstr (soup_message_headers_get_one (capture.request.headers, "Authorization"), ==, "Bearer " TEST_KEY);
  object = sluice_test_capture_body (&capture.request);
  g_assert_cmpstr (json_object_get_string_member (object, "model"), ==, "gpt-4o-mini");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (object, "messages")), ==, 2);
  assert_member_equals (object, "stream", "true");
  assert_member_equals (object, "stream_options", "{\"include_usage\": true}");
  assert_member_equals (object, "response_format", format);
  assert_member_equals (object, "tools", tools);
  assert_member_equals (object, "tool_choice", tool_choice);
  g_assert_cmpuint (json_object_get_size (object), ==, 7);

  /* The capture server answers with JSON: read as JSON, not as a stream. */
  g_assert_null (sluice_response_get_error (r));
  g_assert_cmpstr (sluice_response_get_text (r), ==, "captured");
  g_assert_false (sluice_response_get_streamed (r));
  g_assert_cmpint (sluice_response_get_ttft_us (r), ==, -1);
  capture_clear (&capture);
}

typedef struct
{
  gboolean done;
  gssize   n;
} PeerRead;

static void
on_peer_read (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  PeerRead *read = user_data;
  g_autoptr(GError) error = NULL;

  read->n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  read->done = TRUE;
}

/* Whether the client closed its end of @stream within @timeout_ms: the
 * server reads the end of the stream (or a reset), not a timeout. */
static gboolean
client_closed (GIOStream *stream,
               guint      timeout_ms)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  GSource *timer = g_timeout_source_new (timeout_ms);
  PeerRead read = { FALSE, 0 };
  char byte;

  g_source_set_callback (timer, cancel_later, cancellable, NULL);
  g_source_attach (timer, NULL);
  g_input_stream_read_async (g_io_stream_get_input_stream (stream), &byte, 1, G_PRIORITY_DEFAULT,
                             cancellable, on_peer_read, &read);
  while (!read.done)
    g_main_context_iteration (NULL, TRUE);
  g_source_destroy (timer);
  g_source_unref (timer);
  return !g_cancellable_is_cancelled (cancellable) && read.n <= 0;
}

/* The mock's requests still being answered. */
static gint64
mock_in_flight (void)
{
  g_autoptr(JsonObject) stats = sluice_test_mock_stats ();

  return json_object_get_int_member (stats, "in_flight");
}

/* Silence after the first event: the idle timeout ends the attempt, well
 * before any deadline, and drops the connection. */
static void
test_stream_stall (void)
{
  /* The first event, then silence where the second would be. */
  static const char first[] = STREAM_TEXT ("Half");
  JsonNode *step = sluice_test_status_step (200, STREAM_TEXT ("Half") STREAM_TEXT (" an answer") "data: [DONE]\n\n",
                                            SSE, "{\"x-request-id\": \"req_stall\"}");
  g_autofree char *url = NULL;
  g_autoptr(SluiceProvider) provider = NULL;
  g_autoptr(SluiceResponse) r = NULL;
  gint64 start, elapsed, deadline;

  json_object_set_int_member (json_node_get_object (step), "stall_after_bytes", (gint64) strlen (first));
  url = sluice_test_mock_start_with_rules ("<stall>", step, NULL);
  provider = provider_with (url, STREAMING ", \"idle_timeout\": \"200ms\"");
  start = sluice_monotonic_ms ();
  r = sluice_test_send_text (provider, "<stall>");
  elapsed = sluice_monotonic_ms () - start;

  sluice_test_assert_failed (r, SLUICE_ERROR_TIMEOUT, 200,
                             "the stream from 127.0.0.1 stalled after 1 events: no data for 200 ms");
  g_assert_true (sluice_error_code_is_retryable (SLUICE_ERROR_TIMEOUT));
  g_assert_true (sluice_response_get_streamed (r));
  g_assert_cmpstr (sluice_response_get_request_id (r), ==, "req_stall");
  g_assert_cmpint (sluice_response_get_ttft_us (r), >=, 0);
  g_assert_cmpint (elapsed, >=, 200);
  g_assert_cmpint (elapsed, <, 1000);

  /* The client hung up: the mock, watching the stalled stream's socket,
   * has nothing left in flight. (The main loop runs meanwhile: libsoup
   * closes the connection from it.) */
  deadline = sluice_monotonic_ms () + 2000;
  while (mock_in_flight () > 0 && sluice_monotonic_ms () < deadline)
    {
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (20 * 1000);
    }
  g_assert_cmpint (mock_in_flight (), ==, 0);
  sluice_test_mock_stop ();
}

static void
test_stream_cancellation (void)
{
  Capture capture = { .mode = STREAM_THEN_STALL };
  g_autofree char *url = NULL;
  g_autoptr(SoupServer) server = sluice_test_server_new (capture_handler, &capture, "", &url);
  /* The default idle timeout (30 s): only the cancellation ends this one. */
  g_autoptr(SluiceProvider) provider = provider_with (url, STREAMING);
  g_autoptr(SluiceContext) context = sluice_test_context_new ("system", "Be brief.", "user", "cancel me", NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  SluiceTestSent sent = { 0 };
  gint64 start;

  sluice_provider_send_async (provider, context, cancellable, sluice_test_sent_cb, &sent);
  /* The server has sent the head and the first event... */
  while (capture.held == NULL)
    g_main_context_iteration (NULL, TRUE);
  /* ...which the client reads, keeping the connection open for more. */
  g_assert_false (client_closed (capture.held, 100));
  g_assert_false (sent.done);

  start = sluice_monotonic_ms ();
  g_cancellable_cancel (cancellable);
  while (!sent.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_null (sent.response);
  g_assert_error (sent.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (sluice_monotonic_ms () - start, <, 500);
  g_assert_true (client_closed (capture.held, 1000));
  g_clear_error (&sent.error);
  capture_clear (&capture);
}

/* A connection that breaks after the terminal event has delivered the
 * whole answer; before it, a cut one. */
static void
test_stream_hang_up (void)
{
  Capture capture = { .mode = STREAM_THEN_HANG_UP };
  g_autofree char *url = NULL;
  g_autoptr(SoupServer) server = sluice_test_server_new (capture_handler, &capture, "", &url);
  g_autoptr(SluiceProvider) provider = provider_with (url, STREAMING);
  SluiceResponse *r;

  capture.events = STREAM_TEXT ("Whole") STREAM_STOP STREAM_USAGE;
  r = sluice_test_send_text (provider, "hang up before [DONE]");
  /* libsoup 3.2 takes the hang-up inside a chunked body for its end. */
  sluice_test_assert_failed (r, SLUICE_ERROR_TRUNCATED, 200,
                             "the stream from 127.0.0.1 ended after 3 events without its terminal event");
  g_object_unref (r);

  capture.events = STREAM_TEXT ("Whole") STREAM_STOP STREAM_USAGE "data: [DONE]\n\n";
  r = sluice_test_send_text (provider, "hang up after [DONE]");
  g_assert_no_error ((GError *) sluice_response_get_error (r));
  g_assert_cmpstr (sluice_response_get_text (r), ==, "Whole");
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "stop");
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 5);
  g_object_unref (r);

  capture_clear (&capture);
}

/* A server that sends [DONE] but never ends the body: the answer is whole
 * all the same ("truncated" and the idle timeout are about a stream cut
 * before its terminal event); the stream is dropped a second after its
 * terminal event, or at the idle timeout when that is shorter. */
static void
test_stream_stall_after_done (void)
{
  Capture capture = { .mode = STREAM_THEN_STALL };
  g_autofree char *url = NULL;
  g_autoptr(SoupServer) server = sluice_test_server_new (capture_handler, &capture, "", &url);
  g_autoptr(SluiceProvider) provider = provider_with (url, STREAMING ", \"idle_timeout\": \"200ms\"");
  g_autoptr(SluiceResponse) r = NULL;
  const GError *error;

  capture.events = STREAM_TEXT ("Whole") STREAM_STOP STREAM_USAGE "data: [DONE]\n\n";
  r = sluice_test_send_text (provider, "stall after [DONE]");
  error = sluice_response_get_error (r);
  g_assert_no_error ((GError *) error);
  g_assert_cmpstr (sluice_response_get_text (r), ==, "Whole");
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 5);
  capture_clear (&capture);
}

/* Bodies that are not what they claim, and bodies too large: each is
 * malformed, quoted briefly, never a hang or a crash. */
static void
test_garbage_and_huge_bodies (void)
{
  g_autoptr(GString) huge = g_string_new ("{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"");
  g_autofree char *url = NULL;
  g_autoptr(SluiceProvider) streaming = NULL;
  g_autoptr(SluiceProvider) capped = NULL;
  SluiceResponse *r;

  while (huge->len < 5000)
    g_string_append (huge, "blah ");
  g_string_append (huge, "\"}}]}");
  url = sluice_test_mock_start_with_rules (
    "<garbage>", sluice_test_status_step (200, "<html><body>Gateway says hi</body></html>\n\n", SSE, NULL),
    "<huge>", sluice_test_status_step (200, huge->str, NULL, NULL),
    NULL);
  streaming = provider_with (url, STREAMING);
  capped = provider_with (url, ", \"max_response_bytes\": 2048");

  /* An event stream of garbage: no event at all. */
  r = sluice_test_send_text (streaming, "<garbage>");
  sluice_test_assert_failed (r, SLUICE_ERROR_MALFORMED, 200,
                             "an event stream from 127.0.0.1 with no events: "
                             "\"<html><body>Gateway says hi</body></html>\"");
  g_object_unref (r);

  /* Over the configured cap, streamed or not. */
  r = sluice_test_send_text (capped, "<huge>");
  sluice_test_assert_failed (r, SLUICE_ERROR_MALFORMED, 200, NULL);
  sluice_test_assert_contains (sluice_response_get_error (r)->message, "larger than 2048 bytes");
  g_object_unref (r);

  sluice_test_mock_stop ();
}

static void
test_no_messages (void)
{
  g_autoptr(SluiceProvider) provider = provider_for ("http://127.0.0.1:9");
  g_autoptr(SluiceContext) context = sluice_context_new (NULL);
  g_autoptr(JsonArray) empty = json_array_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceResponse) r = NULL;
  g_autoptr(SluiceResponse) r2 = NULL;

  r = sluice_test_send (provider, context, NULL, &error);
  g_assert_no_error (error);
  sluice_test_assert_failed (r, SLUICE_ERROR_BAD_REQUEST, 0, "no messages to send: add an assemble stage");

  sluice_context_set_messages (context, empty);
  r2 = sluice_test_send (provider, context, NULL, &error);
  g_assert_no_error (error);
  sluice_test_assert_failed (r2, SLUICE_ERROR_BAD_REQUEST, 0, NULL);
}

/* ---- configuration ------------------------------------------------------------------------ */

static void
test_configuration (void)
{
  static const struct { const char *target; SluiceErrorCode code; const char *message; } cases[] = {
    { "{\"model\": \"m\"}", SLUICE_ERROR_AUTH,
      "no API key: set api_key (e.g. api_key: ${OPENAI_API_KEY})" },
    { "{\"model\": \"m\", \"api_key\": \"\"}", SLUICE_ERROR_AUTH,
      "no API key: set api_key (e.g. api_key: ${OPENAI_API_KEY})" },
    { "{\"api_key\": \"" TEST_KEY "\"}", SLUICE_ERROR_INVALID_CONFIG,
      "'model' is required: the provider's name of the model" },
    { "{\"model\": \"m\", \"api_key\": 42}", SLUICE_ERROR_INVALID_CONFIG, "'api_key' must be a string" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"base_url\": \"ftp://user:" TEST_KEY "@host/v1\"}",
      SLUICE_ERROR_INVALID_CONFIG,
      "'base_url' must be an http:// or https:// URL" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"temperature\": 3}", SLUICE_ERROR_INVALID_CONFIG,
      "'temperature' must be a number from 0 to 2" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"max_tokens\": 0}", SLUICE_ERROR_INVALID_CONFIG,
      "'max_tokens' must be a positive integer" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"stop\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}",
      SLUICE_ERROR_INVALID_CONFIG, "'stop' must be a string or an array of 1 to 4 strings" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"extra_headers\": {\"Bad Name\": \"" TEST_KEY "\"}}",
      SLUICE_ERROR_INVALID_CONFIG,
      "extra_headers: 'Bad Name' must be a header name with a one-line string value" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    sluice_test_assert_config_refused (engine, "openai", cases[i].target, cases[i].code, cases[i].message, TEST_KEY);
}

/* ---- the key never shows -------------------------------------------------------------------- */

static void
test_secret_is_scrubbed (void)
{
  g_autofree char *url = sluice_test_mock_start_with_rules (
    /* OpenAI's 401 shows the key masked. */
    "<masked>", sluice_test_status_step (401,
      "{\"error\":{\"message\":\"Incorrect API key provided: "
      "sk-slu**************************3Vc6. You can find your API key at "
      "https://platform.openai.com/account/api-keys.\",\"code\":\"invalid_api_key\"}}", NULL, NULL),
    "<echo>", sluice_test_status_step (400, "{\"error\":{\"message\":\"bad header 'Bearer " TEST_KEY "'\"}}",
                                       NULL, NULL),
    "<html>", sluice_test_status_step (200, "<html>key=" TEST_KEY "</html>", "text/html", NULL),
    "<start>", sluice_test_status_step (200, "sk-sluice-test-P8w2 was rejected", "text/plain", NULL),
    NULL);
  g_autoptr(SluiceProvider) provider = provider_for (url);
  static const char * const markers[] = { "<masked>", "<echo>", "<html>", "<start>" };

  sluice_test_clear_logs ();
  for (guint i = 0; i < G_N_ELEMENTS (markers); i++)
    {
      g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, markers[i]);
      const char *message = sluice_response_get_error (r)->message;

      g_test_message ("%s: %s", markers[i], message);
      sluice_test_assert_contains (message, "[redacted]");
      sluice_test_assert_no_secret ("the error", message, TEST_KEY, "sk-slu", "P8w2", NULL);
    }
  {
    g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, "<masked>");

    g_assert_cmpstr (sluice_response_get_error (r)->message, ==,
                     "HTTP 401: Incorrect API key provided: [redacted] You can find your API key at "
                     "https://platform.openai.com/account/api-keys.");
  }
  sluice_test_assert_contains (sluice_test_get_logs (), "HTTP 401 from 127.0.0.1");
  g_assert_null (strstr (sluice_test_get_logs (), TEST_KEY));
  sluice_test_mock_stop ();
}

/* What a server says of itself (the served model, the answer's id, the
 * x-request-id header) goes into records: a server that echoes the key
 * into it, in an answer or a failure, does not show it. */
static void
test_secret_in_served_fields (void)
{
#define ECHO_ANSWER(finish) \
  "{\"id\":\"chatcmpl-" TEST_KEY "\",\"model\":\"m-" TEST_KEY "\",\"choices\":[{\"index\":0," \
  "\"message\":{\"role\":\"assistant\",\"content\":\"Partial\"},\"finish_reason\":\"" finish "\"}]," \
  "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1}}"
#define ECHO_ID "{\"x-request-id\": \"rid-" TEST_KEY "\"}"
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<filtered-header>", sluice_test_status_step (200, ECHO_ANSWER ("content_filter"), NULL, ECHO_ID),
    "<filtered-body>", sluice_test_status_step (200, ECHO_ANSWER ("content_filter"), NULL, NO_ID),
    "<answer-header>", sluice_test_status_step (200, ECHO_ANSWER ("stop"), NULL, ECHO_ID),
    "<answer-body>", sluice_test_status_step (200, ECHO_ANSWER ("stop"), NULL, NO_ID),
    "<stream>", sluice_test_status_step (200,
      "data: {\"id\":\"chatcmpl-" TEST_KEY "\",\"model\":\"m-" TEST_KEY "\",\"choices\":[{\"index\":0,"
      "\"delta\":{\"content\":\"Partial\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n", SSE, NO_ID),
    NULL);
#undef ECHO_ANSWER
#undef ECHO_ID
  g_autoptr(SluiceProvider) plain = provider_for (url);
  g_autoptr(SluiceProvider) streaming = provider_with (url, STREAMING);
  static const struct { const char *marker; SluiceErrorCode code; } cases[] = {
    { "<filtered-header>", SLUICE_ERROR_CONTENT_FILTER }, { "<filtered-body>", SLUICE_ERROR_CONTENT_FILTER },
    { "<answer-header>", 0 }, { "<answer-body>", 0 }, { "<stream>", 0 },
  };

  sluice_test_clear_logs ();
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gboolean stream = g_str_equal (cases[i].marker, "<stream>");
      g_autoptr(SluiceResponse) r = sluice_test_send_text (stream ? streaming : plain, cases[i].marker);
      const GError *error = sluice_response_get_error (r);

      g_test_message ("%s: model %s, request id %s", cases[i].marker, sluice_response_get_model (r),
                      sluice_response_get_request_id (r));
      if (cases[i].code != 0)
        {
          sluice_test_assert_failed (r, cases[i].code, 200, "the provider's content filter stopped the answer");
          sluice_test_assert_no_secret ("the error", error->message, TEST_KEY, "sk-slu", "P8w2", NULL);
        }
      else
        {
          g_assert_no_error ((GError *) error);
          g_assert_cmpstr (sluice_response_get_text (r), ==, "Partial");
        }
      /* The key goes; what the server wrote around it stays. */
      g_assert_cmpstr (sluice_response_get_model (r), ==, "m-[redacted]");
      g_assert_true (g_str_equal (sluice_response_get_request_id (r), "rid-[redacted]") ||
                     g_str_equal (sluice_response_get_request_id (r), "chatcmpl-[redacted]"));
    }
  g_assert_null (strstr (sluice_test_get_logs (), TEST_KEY));
  sluice_test_mock_stop ();
}

/* A key with white space around it is sent trimmed, so a server echoes
 * it trimmed: that is what is scrubbed. */
static void
test_secret_with_spaces (void)
{
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<echo>", sluice_test_status_step (401, "{\"error\":{\"message\":\"Incorrect API key provided: " TEST_KEY
                                            "\",\"code\":\"invalid_api_key\"}}", NULL, NULL),
    NULL);
  g_autoptr(SluiceProvider) provider = sluice_test_provider_new (
    engine, "openai",
    "{\"provider\": \"openai\", \"model\": \"gpt-4o-mini\", \"base_url\": \"%s\", \"api_key\": \" " TEST_KEY " \"}",
    url);
  g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, "<echo>");

  sluice_test_assert_failed (r, SLUICE_ERROR_AUTH, 401, "HTTP 401: Incorrect API key provided: [redacted]");
  sluice_test_assert_no_secret ("the error", sluice_response_get_error (r)->message, TEST_KEY, "P8w2", NULL);
  sluice_test_mock_stop ();
}

/* ---- hostile providers, round 2 ------------------------------------------------------- */

/* @text as a JSON string literal. */
static char *
json_quote (const char *text)
{
  g_autoptr(JsonNode) node = json_node_init_string (json_node_alloc (), text);

  return sluice_json_to_string (node);
}

/* A provider aimed at base_url with @key, which may hold anything. */
static SluiceProvider *
provider_with_key (const char *base_url,
                   const char *key)
{
  g_autofree char *quoted = json_quote (key);

  return sluice_test_provider_new (engine, "openai",
                                   "{\"provider\": \"openai\", \"model\": \"gpt-4o-mini\","
                                   " \"base_url\": \"%s\", \"api_key\": %s}", base_url, quoted);
}

/* A key goes wherever it stands, even holding a space, and in the forms a
 * server quotes it in: JSON-escaped inside a string the message shows, and
 * URL-escaped. */
static void
test_secret_in_escaped_forms (void)
{
  static const struct {
    const char *key;
    const char *served;     /* the server's error message */
    const char *message;    /* ours */
    const char *tail;       /* the key's second half, as served */
    const char *escaped;    /* the form served, when not the key itself */
  } cases[] = {
    { "abcdefg hijklmnopqrstuv", "Incorrect API key provided: abcdefg hijklmnopqrstuv.",
      "HTTP 401: Incorrect API key provided: [redacted].", "hijklmnopqrstuv", NULL },
    { "a\"bcdefghijklmnop", "{\"authorization\": \"Bearer a\\\"bcdefghijklmnop\"}",
      "HTTP 401: {\"authorization\": \"Bearer [redacted]\"}", "bcdefghijklmnop", "a\\\"bcdefghijklmnop" },
    { "sk-ab/cdefghijklmnop", "{\"key\": \"sk-ab\\/cdefghijklmnop\"}",
      "HTTP 401: {\"key\": \"[redacted]\"}", "cdefghijklmnop", "sk-ab\\/cdefghijklmnop" },
    { "abcdefg hijklmnopqrstuv", "GET /v1/chat/completions?key=abcdefg%20hijklmnopqrstuv refused",
      "HTTP 401: GET /v1/chat/completions?key=[redacted] refused", "hijklmnopqrstuv", "abcdefg%20hijklmnopqrstuv" },
    { "sk-ab/cdefghijklmnop", "GET /v1/chat/completions?key=sk-ab%2Fcdefghijklmnop refused",
      "HTTP 401: GET /v1/chat/completions?key=[redacted] refused", "cdefghijklmnop", "sk-ab%2Fcdefghijklmnop" },
    /* White space widened or changed by the server. */
    { "abcdefg hijklmnopqrstuv", "key abcdefg\thijklmnopqrstuv refused",
      "HTTP 401: key [redacted] refused", "hijklmnopqrstuv", "abcdefg\thijklmnopqrstuv" },
    { "abcdefg hijklmnopqrstuv", "key abcdefg  hijklmnopqrstuv refused",
      "HTTP 401: key [redacted] refused", "hijklmnopqrstuv", "abcdefg  hijklmnopqrstuv" },
    /* Form-encoded, lower-case percent escapes, JSON escapes of other kinds. */
    { "abcdefg hijklmnopqrstuv", "body key=abcdefg+hijklmnopqrstuv refused",
      "HTTP 401: body key=[redacted] refused", "hijklmnopqrstuv", "abcdefg+hijklmnopqrstuv" },
    { "ab/cdefghijklmnop", "GET /?key=ab%2fcdefghijklmnop refused",
      "HTTP 401: GET /?key=[redacted] refused", "cdefghijklmnop", "ab%2fcdefghijklmnop" },
    { "a\"b/cdefghijklmnop", "{\"key\": \"a\\\"b/cdefghijklmnop\"}",
      "HTTP 401: {\"key\": \"[redacted]\"}", "cdefghijklmnop", "a\\\"b/cdefghijklmnop" },
    { "a\"bcdefghijklmnop", "{\"key\": \"a\\u0022bcdefghijklmnop\"}",
      "HTTP 401: {\"key\": \"[redacted]\"}", "bcdefghijklmnop", "a\\u0022bcdefghijklmnop" },
  };
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autofree char *url = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *marker = g_strdup_printf ("<form:%u>", i);
      g_autofree char *served = json_quote (cases[i].served);
      g_autofree char *body = g_strdup_printf ("{\"error\":{\"message\":%s,\"type\":\"invalid_request_error\","
                                               "\"code\":\"invalid_api_key\"}}", served);

      sluice_test_add_rule (rules, marker, sluice_test_status_step (401, body, NULL, NULL));
    }
  /* A key the 400-character excerpt would cut in half. */
  {
    g_autofree char *padding = g_strnfill (390, 'x');
    g_autofree char *body = g_strdup_printf ("{\"error\":{\"message\":\"%s abcdefg hijklmnopqrstuv\"}}", padding);

    sluice_test_add_rule (rules, "<cut>", sluice_test_status_step (401, body, NULL, NULL));
  }
  url = sluice_test_mock_start_rules (rules, NULL);

  {
    g_autoptr(SluiceProvider) provider = provider_with_key (url, "abcdefg hijklmnopqrstuv");
    g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, "<cut>");

    sluice_test_assert_no_secret ("the cut error", sluice_response_get_error (r)->message,
                                  "abcdefg hijklmnopqrstuv", "abcdefg hijk", "hijklmnopqrstuv", NULL);
  }

  sluice_test_clear_logs ();
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *marker = g_strdup_printf ("<form:%u>", i);
      g_autoptr(SluiceProvider) provider = provider_with_key (url, cases[i].key);
      g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, marker);
      const char *message = sluice_response_get_error (r) != NULL ? sluice_response_get_error (r)->message : NULL;

      g_test_message ("%s: %s", marker, message);
      sluice_test_assert_no_secret ("the error", message, cases[i].key, cases[i].tail, cases[i].escaped, NULL);
      sluice_test_assert_failed (r, SLUICE_ERROR_AUTH, 401, cases[i].message);
      sluice_test_assert_no_secret ("the logs", sluice_test_get_logs (), cases[i].key, cases[i].tail,
                                    cases[i].escaped, NULL);
    }
  sluice_test_mock_stop ();
}

/* Fails unless @text is valid UTF-8 on one line, without control
 * characters, and of at most @max_chars characters and an ellipsis. */
static void
assert_one_clean_line (const char *what,
                       const char *text,
                       guint       max_chars)
{
  g_assert_nonnull (text);
  if (!g_utf8_validate (text, -1, NULL))
    g_error ("%s is not valid UTF-8", what);
  for (const char *p = text; *p != '\0'; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      g_error ("%s holds the control character U+%04X at byte %" G_GSIZE_FORMAT, what,
               g_utf8_get_char (p), (gsize) (p - text));
  if (g_utf8_strlen (text, -1) > (glong) max_chars + 1)
    g_error ("%s is %ld characters long, more than %u and an ellipsis", what, g_utf8_strlen (text, -1), max_chars);
}

/* Answers every request with the raw bytes of *user_data (a GString *):
 * head and body as a hostile server writes them, past libsoup's checks. */
static void
raw_handler (SoupServer        *server,
             SoupServerMessage *msg,
             const char        *path,
             GHashTable        *query,
             gpointer           user_data)
{
  GString **reply = user_data;
  g_autoptr(GIOStream) stream = soup_server_message_steal_connection (msg);

  g_output_stream_write_all (g_io_stream_get_output_stream (stream), (*reply)->str, (*reply)->len,
                             NULL, NULL, NULL);
  g_io_stream_close (stream, NULL, NULL);
}

static void
reply_free (GString **reply)
{
  if (*reply != NULL)
    g_string_free (g_steal_pointer (reply), TRUE);
}

static GString *
raw_reply (guint       status,
           const char *content_type,
           const char *extra_head,
           const char *body)
{
  GString *reply = g_string_new (NULL);

  g_string_append_printf (reply, "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n"
                                 "Connection: close\r\n%s\r\n%s",
                          status, status == 200 ? "OK" : "Oops", content_type, strlen (body), extra_head, body);
  return reply;
}

/* The content type a failing server sends is quoted as one short clean
 * line: an escape sequence, an invalid byte or 60 KB of it never reach a
 * terminal or a record. */
static void
test_hostile_content_type (void)
{
  g_autoptr(GString) long_type = g_string_new ("text/");
  g_autoptr(GString) reply = NULL;
  g_autofree char *url = NULL;
  g_autoptr(SoupServer) server = sluice_test_server_new (raw_handler, &reply, "", &url);
  g_autoptr(SluiceProvider) provider = provider_for (url);
  const char *types[2];

  while (long_type->len < 60 * 1024)
    g_string_append (long_type, "html");
  types[0] = "te\x1b[31mxt/ht\xffml";
  types[1] = long_type->str;

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autoptr(SluiceResponse) r = NULL;
      const char *message, *quoted;
      g_autofree char *type = NULL;

      reply_free (&reply);
      reply = raw_reply (500, types[i], "", "oops!");
      r = sluice_test_send_text (provider, "type?");
      sluice_test_assert_failed (r, SLUICE_ERROR_SERVER, 500, NULL);
      message = sluice_response_get_error (r)->message;
      g_test_message ("type %u: %.300s", i, message);
      assert_one_clean_line ("the error message", message, 200);
      g_assert_true (g_str_has_prefix (message, "HTTP 500: an error from 127.0.0.1 ("));
      g_assert_true (g_str_has_suffix (message, ")"));
      quoted = message + strlen ("HTTP 500: an error from 127.0.0.1 (");
      type = g_strndup (quoted, strlen (quoted) - 1);
      assert_one_clean_line ("the quoted content type", type, 80);
      g_assert_true (g_str_has_prefix (type, i == 0 ? "te" : "text/htmlhtml"));
      if (i == 1)
        g_assert_true (g_str_has_suffix (type, "…"));
    }
}

/* A served model name of 1 MB, and a request id header holding an escape
 * sequence and \x01: each is kept as one short clean line, streamed or not. */
static void
test_hostile_model_and_request_id (void)
{
  g_autoptr(GString) model = g_string_new (NULL);
  g_autoptr(GString) reply = NULL;
  g_autofree char *url = NULL;
  g_autoptr(SoupServer) server = sluice_test_server_new (raw_handler, &reply, "", &url);
  g_autoptr(SluiceProvider) plain = provider_for (url);
  g_autoptr(SluiceProvider) streaming = provider_with (url, STREAMING);
  g_autofree char *quoted = NULL;
  g_autofree char *answer = NULL;
  g_autofree char *events = NULL;
  const char *id_header = "x-request-id: req-\x1b[2J\x01" "end\r\n";

  while (model->len < 1024 * 1024)
    g_string_append (model, "gpt-\x1b" "\xc3\xa9\n");
  quoted = json_quote (model->str);
  answer = g_strdup_printf ("{\"id\":\"chatcmpl-raw\",\"model\":%s,\"choices\":[{\"index\":0,\"message\":"
                            "{\"role\":\"assistant\",\"content\":\"Fine.\"},\"finish_reason\":\"stop\"}],"
                            "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}", quoted);
  events = g_strdup_printf ("data: {\"id\":\"chatcmpl-raw\",\"model\":%s,\"choices\":[{\"index\":0,\"delta\":"
                            "{\"content\":\"Fine.\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n", quoted);

  for (guint streamed = 0; streamed <= 1; streamed++)
    {
      g_autoptr(SluiceResponse) r = NULL;
      const char *served_model, *request_id;

      reply_free (&reply);
      reply = raw_reply (200, streamed ? SSE : "application/json", id_header, streamed ? events : answer);
      r = sluice_test_send_text (streamed ? streaming : plain, "names?");
      g_assert_no_error ((GError *) sluice_response_get_error (r));
      g_assert_cmpstr (sluice_response_get_text (r), ==, "Fine.");
      served_model = sluice_response_get_model (r);
      request_id = sluice_response_get_request_id (r);
      g_test_message ("streamed %u: model %.300s, request id %s", streamed, served_model, request_id);
      assert_one_clean_line ("the served model", served_model, 200);
      g_assert_true (g_str_has_prefix (served_model, "gpt-"));
      g_assert_true (g_str_has_suffix (served_model, "…"));
      assert_one_clean_line ("the request id", request_id, 200);
      g_assert_true (g_str_has_prefix (request_id, "req-"));
      g_assert_true (g_str_has_suffix (request_id, "end"));
    }
}

/* A refusal beside empty content (not null) is still a refusal. */
static void
test_refusal_with_empty_content (void)
{
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<refused>", sluice_test_status_step (200,
      "{\"id\":\"chatcmpl-r\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
      "\"content\":\"\",\"refusal\":\"I can't help with that.\"},\"finish_reason\":\"stop\"}],"
      "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":6}}", NULL, NULL),
    NULL);
  g_autoptr(SluiceProvider) provider = provider_for (url);
  g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, "<refused>");

  sluice_test_assert_failed (r, SLUICE_ERROR_CONTENT_FILTER, 200, "the model refused: I can't help with that.");
  g_assert_false (sluice_error_code_is_retryable (sluice_response_get_error (r)->code));
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "content_filter");
  g_assert_null (sluice_response_get_text (r));
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 6);
  sluice_test_mock_stop ();
}

/* Some compatible servers send a call's arguments as the object itself,
 * not as a string: its JSON text is the arguments, streamed or not. */
static void
test_tool_arguments_as_object (void)
{
#define OBJECT_ARGUMENTS "{\"city\":\"Paris\",\"days\":3,\"units\":{\"temp\":\"c\"}}"
#define OBJECT_CALL \
  "\"tool_calls\":[{\"index\":0,\"id\":\"call_obj\",\"type\":\"function\"," \
  "\"function\":{\"name\":\"get_weather\",\"arguments\":" OBJECT_ARGUMENTS "}}]"
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<object>", sluice_test_status_step (200,
      "{\"id\":\"chatcmpl-o\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
      "\"content\":null," OBJECT_CALL "},\"finish_reason\":\"tool_calls\"}],"
      "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":6}}", NULL, NULL),
    "<object-stream>", sluice_test_status_step (200,
      STREAM_CHUNK ("{\"role\":\"assistant\"," OBJECT_CALL "}", "null") STREAM_CHUNK ("{}", "\"tool_calls\"")
      STREAM_USAGE "data: [DONE]\n\n", SSE, NULL),
    NULL);
#undef OBJECT_CALL
  g_autoptr(SluiceProvider) plain = provider_for (url);
  g_autoptr(SluiceProvider) streaming = provider_with (url, STREAMING);

  for (guint streamed = 0; streamed <= 1; streamed++)
    {
      g_autoptr(SluiceResponse) r = sluice_test_send_text (streamed ? streaming : plain,
                                                          streamed ? "<object-stream>" : "<object>");
      JsonArray *calls = sluice_response_get_tool_calls (r);
      JsonObject *call;

      g_test_message ("streamed %u", streamed);
      g_assert_no_error ((GError *) sluice_response_get_error (r));
      g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "tool_call");
      g_assert_nonnull (calls);
      g_assert_cmpuint (json_array_get_length (calls), ==, 1);
      call = json_array_get_object_element (calls, 0);
      g_assert_cmpstr (sluice_json_get_string (call, "id"), ==, "call_obj");
      g_assert_cmpstr (sluice_json_get_string (call, "name"), ==, "get_weather");
      g_assert_cmpstr (sluice_json_get_string (call, "arguments"), ==, OBJECT_ARGUMENTS);
      g_assert_cmpstr (sluice_response_get_text (r), ==, OBJECT_ARGUMENTS);
    }
#undef OBJECT_ARGUMENTS
  sluice_test_mock_stop ();
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  engine = sluice_test_provider_setup ("openai");
  if (engine == NULL)
    return 77;

  g_test_add_func ("/openai/sample-answers", test_sample_answers);
  g_test_add_func ("/openai/sample-tool-calls-and-refusal", test_sample_tool_calls_and_refusal);
  g_test_add_func ("/openai/content-filter-finish", test_content_filter_finish);
  g_test_add_func ("/openai/sample-streams", test_sample_streams);
  g_test_add_func ("/openai/sample-errors", test_sample_errors);
  g_test_add_func ("/openai/status-classification", test_status_classification);
  g_test_add_func ("/openai/malformed-bodies", test_malformed_bodies);
  g_test_add_func ("/openai/request-shape", test_request_shape);
  g_test_add_func ("/openai/key-reaches-the-server", test_key_reaches_the_server);
  g_test_add_func ("/openai/transport-errors", test_transport_errors);
  g_test_add_func ("/openai/cancellation", test_cancellation);
  g_test_add_func ("/openai/garbage-and-huge-bodies", test_garbage_and_huge_bodies);
  g_test_add_func ("/openai/stream-faults", test_stream_faults);
  g_test_add_func ("/openai/stream-tool-call-index", test_stream_tool_call_index);
  g_test_add_func ("/openai/stream-events-after-done", test_stream_events_after_done);
  g_test_add_func ("/openai/stream-content-type-case", test_stream_content_type_case);
  g_test_add_func ("/openai/stream-rate-limit-error", test_stream_rate_limit_error);
  g_test_add_func ("/openai/usage-not-believed", test_usage_not_believed);
  g_test_add_func ("/openai/stream-request-shape", test_stream_request_shape);
  g_test_add_func ("/openai/stream-stall", test_stream_stall);
  g_test_add_func ("/openai/stream-cancellation", test_stream_cancellation);
  g_test_add_func ("/openai/stream-hang-up", test_stream_hang_up);
  g_test_add_func ("/openai/stream-stall-after-done", test_stream_stall_after_done);
  g_test_add_func ("/openai/no-messages", test_no_messages);
  g_test_add_func ("/openai/configuration", test_configuration);
  g_test_add_func ("/openai/secret-is-scrubbed", test_secret_is_scrubbed);
  g_test_add_func ("/openai/secret-in-served-fields", test_secret_in_served_fields);
  g_test_add_func ("/openai/secret-with-spaces", test_secret_with_spaces);
  g_test_add_func ("/openai/secret-in-escaped-forms", test_secret_in_escaped_forms);
  g_test_add_func ("/openai/hostile-content-type", test_hostile_content_type);
  g_test_add_func ("/openai/hostile-model-and-request-id", test_hostile_model_and_request_id);
  g_test_add_func ("/openai/refusal-with-empty-content", test_refusal_with_empty_content);
  g_test_add_func ("/openai/tool-arguments-as-object", test_tool_arguments_as_object);

  return sluice_test_provider_run (engine);
}
