/* test-anthropic.c — the anthropic provider on the wire: every real
 * recorded body (served by the mock provider) mapped to its normalized
 * answer or error, error classification, rate-limit resets, the request's
 * shape, structured output, broken streams, and that the key never shows.
 *
 * The recorded bodies are read at run time from the shared test data
 * ($SLUICE_SHARED_TESTDATA/provider-samples/anthropic); without them the
 * whole test is skipped (exit status 77).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-provider.h"

#include <string.h>

#define TEST_KEY "sk-ant-sluice-test-Q4r8Tz2Wm6Kx9Bn3"

static SluiceEngine *engine;

/* ---- harness -------------------------------------------------------------------- */

/* The vercel/ai recorder kept one event's data per line and dropped the
 * framing: each line becomes `event: <its type>` and `data: <line>`. */
static char *
sse_from_chunks (const char *jsonl)
{
  g_auto(GStrv) lines = g_strsplit (jsonl, "\n", -1);
  GString *sse = g_string_new (NULL);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr(JsonNode) node = NULL;

      if (*lines[i] == '\0')
        continue;
      node = sluice_json_from_string (lines[i], -1, NULL);
      g_assert_nonnull (node);
      g_string_append_printf (sse, "event: %s\ndata: %s\n\n",
                              sluice_json_get_string (json_node_get_object (node), "type"), lines[i]);
    }
  return g_string_free (sse, FALSE);
}

/* A provider aimed at the mock's /v1/messages with the test key, and
 * @more target members (JSON text, or ""). */
static SluiceProvider *
mock_provider_full (const char *mock_url,
                    const char *more)
{
  return sluice_test_provider_new (engine, "anthropic",
                                   "{\"provider\": \"anthropic\", \"model\": \"claude-sonnet-4-5\", \"base_url\": \"%s/v1\","
                                   " \"api_key\": \"" TEST_KEY "\"%s%s}", mock_url, *more != '\0' ? ", " : "", more);
}

static SluiceProvider *
mock_provider (const char *mock_url,
               gboolean    stream)
{
  return mock_provider_full (mock_url, stream ? "\"stream\": true" : "");
}

static char *
tool_calls_text (SluiceResponse *response)
{
  JsonArray *calls = sluice_response_get_tool_calls (response);
  g_autoptr(JsonNode) node = NULL;

  if (calls == NULL)
    return NULL;
  node = json_node_init_array (json_node_alloc (), calls);
  return sluice_json_to_string (node);
}

/* The forced answer tool's call: kept as the one tool call, its
 * arguments the answer's text (parse records it as tool_call). */
static void
assert_answer_call (SluiceResponse *r)
{
  JsonArray *calls = sluice_response_get_tool_calls (r);
  JsonObject *call;

  g_assert_nonnull (calls);
  g_assert_cmpuint (json_array_get_length (calls), ==, 1);
  call = json_array_get_object_element (calls, 0);
  g_assert_cmpstr (sluice_json_get_string (call, "name"), ==, "answer");
  g_assert_cmpstr (sluice_json_get_string (call, "arguments"), ==, sluice_response_get_text (r));
}

/* ---- every recorded sample -------------------------------------------------------- */

typedef struct
{
  const char     *file;
  guint           status;       /* served with */
  gboolean        stream;       /* asked for as a stream (.sse, .jsonl) */
  const char     *headers;      /* served with, JSON object text */
  SluiceErrorCode code;         /* 0: an answer */
  const char     *message;      /* the error's, %s is the mock's host */
  const char     *text;
  const char     *finish_reason;
  const char     *tool_calls;   /* JSON text of the normalized calls */
  const char     *model;
  const char     *request_id;
  gint64          prompt_tokens;
  gint64          completion_tokens;
} Sample;

/* An empty request-id header: the id in the body counts, when there is one. */
#define NO_ID "{\"request-id\": \"\"}"

static const Sample samples[] = {
  { "message_text.json", 200, FALSE, "{\"request-id\": \"req_header_wins\"}", 0, NULL,
    "Hello! I'm doing well, thanks for asking. How are you doing today? Is there anything I can help you with?",
    "stop", NULL, "claude-sonnet-4-5-20250929", "req_header_wins", 12, 29 },
  /* No text block: the first call's arguments are the text. */
  { "message_tool_use.json", 200, FALSE, NO_ID, 0, NULL,
    "{\"elements\":[{\"location\":\"San Francisco\",\"temperature\":-5,\"condition\":\"snowy\"},"
    "{\"location\":\"London\",\"temperature\":0,\"condition\":\"snowy\"},"
    "{\"location\":\"Paris\",\"temperature\":23,\"condition\":\"cloudy\"},"
    "{\"location\":\"Berlin\",\"temperature\":-9,\"condition\":\"snowy\"}]}",
    "tool_call",
    "[{\"id\":\"toolu_01Q9ExVZnzZj7E2QQYHYtNUa\",\"name\":\"json\",\"arguments\":"
    "\"{\\\"elements\\\":[{\\\"location\\\":\\\"San Francisco\\\",\\\"temperature\\\":-5,\\\"condition\\\":\\\"snowy\\\"},"
    "{\\\"location\\\":\\\"London\\\",\\\"temperature\\\":0,\\\"condition\\\":\\\"snowy\\\"},"
    "{\\\"location\\\":\\\"Paris\\\",\\\"temperature\\\":23,\\\"condition\\\":\\\"cloudy\\\"},"
    "{\\\"location\\\":\\\"Berlin\\\",\\\"temperature\\\":-9,\\\"condition\\\":\\\"snowy\\\"}]}\"}]",
    "claude-haiku-4-5-20251001", "msg_0191iYfpERYfS27xLsdW2nbb", 1151, 87 },
  { "message_text_and_tool_use.json", 200, FALSE, NO_ID, 0, NULL,
    "<thinking>\nThe updateIssueList tool was provided in the list of available functions. The tool has "
    "no required parameters, so it can be called without any additional information needed from the "
    "user.\n</thinking>\n\nOkay, I will update the current issue list:",
    "tool_call",
    "[{\"id\":\"toolu_01LRmxn9vGM1d2DZSDBowdZ1\",\"name\":\"updateIssueList\",\"arguments\":\"{}\"}]",
    "claude-3-opus-20240229", "msg_01GCBaV8gyWAYgMVggRqZbuQ", 602, 93 },
  { "error_400_invalid_request.json", 400, FALSE, "{\"request-id\": \"req_011Ca7jT9AHpgXgdv8igm4z9\"}",
    SLUICE_ERROR_BAD_REQUEST,
    "HTTP 400: This model does not support effort level 'xhigh'. Supported levels: high, low, max, medium.",
    NULL, NULL, NULL, NULL, "req_011Ca7jT9AHpgXgdv8igm4z9", -1, -1 },
  /* No request-id header: the body's request_id is the id. */
  { "error_529_overloaded.json", 529, FALSE, NO_ID, SLUICE_ERROR_OVERLOADED, "HTTP 529: Overloaded",
    NULL, NULL, NULL, NULL, "req_011CZAau32QzxDkriovTaFCB", -1, -1 },
  { "stream_text.sse", 200, TRUE, NO_ID, 0, NULL, "Hello there!", "stop", NULL,
    "claude-3-opus-latest", "msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK", 11, 6 },
  /* Text, then a call whose arguments came in fragments split mid-token. */
  { "stream_tool_use.sse", 200, TRUE, NO_ID, 0, NULL, "I'll check the current weather in Paris for you.",
    "tool_call",
    "[{\"id\":\"toolu_01NRLabsLyVHZPKxbKvkfSMn\",\"name\":\"get_weather\",\"arguments\":"
    "\"{\\\"location\\\": \\\"Paris\\\"}\"}]",
    "claude-sonnet-4-20250514", "msg_019Q1hrJbZG26Fb9BQhrkHEr", 377, 65 },
  { "stream_error_overloaded.sse", 200, TRUE, NO_ID, SLUICE_ERROR_OVERLOADED,
    "the stream from %s failed after 1 events: an error event (overloaded_error): Overloaded",
    NULL, NULL, NULL, NULL, NULL, -1, -1 },
  { "stream_text_sonnet-4-5.chunks.jsonl", 200, TRUE, NO_ID, 0, NULL,
    "Hello! I'm doing well, thank you for asking. How are you doing today? Is there anything I can help you with?",
    "stop", NULL, "claude-sonnet-4-5-20250929", "msg_01QC4g3HwBThD4BaNtBckFDJ", 12, 30 },
};

static void
assert_sample (const Sample   *sample,
               SluiceResponse *r)
{
  g_autofree char *calls = tool_calls_text (r);

  g_test_message ("%s", sample->file);
  g_assert_cmpuint (sluice_response_get_http_status (r), ==, sample->status);
  g_assert_cmpstr (sluice_response_get_request_id (r), ==, sample->request_id);
  if (sample->code != 0)
    {
      g_autofree char *message = g_strdup_printf (sample->message, "127.0.0.1");

      sluice_test_assert_failed (r, sample->code, sample->status, message);
      g_assert_cmpint (sluice_error_code_is_retryable (sample->code), ==,
                       sample->code == SLUICE_ERROR_OVERLOADED);
      g_assert_null (sluice_response_get_text (r));
      return;
    }

  g_assert_null (sluice_response_get_error (r));
  g_assert_cmpstr (sluice_response_get_text (r), ==, sample->text);
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, sample->finish_reason);
  g_assert_cmpstr (calls, ==, sample->tool_calls);
  g_assert_cmpstr (sluice_response_get_model (r), ==, sample->model);
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, sample->prompt_tokens);
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, sample->completion_tokens);
  g_assert_cmpint (sluice_response_get_cached_tokens (r), ==, 0);
  g_assert_cmpint (sluice_response_get_cache_write_tokens (r), ==, 0);
  g_assert_cmpint (sluice_response_get_reasoning_tokens (r), ==, 0);
  g_assert_false (sluice_response_get_usage_estimated (r));
  g_assert_cmpint (sluice_response_get_streamed (r), ==, sample->stream);
  if (sample->stream)
    g_assert_cmpint (sluice_response_get_ttft_us (r), >=, 0);
}

static void
test_samples (void)
{
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autoptr(SluiceProvider) plain = NULL;
  g_autoptr(SluiceProvider) streaming = NULL;
  g_autofree char *url = NULL;

  /* Every recorded file has its row: a new sample fails here until it does. */
  g_assert_cmpuint (sluice_test_assert_samples_listed (samples, G_N_ELEMENTS (samples), sizeof samples[0], ""),
                    ==, G_N_ELEMENTS (samples));

  for (guint i = 0; i < G_N_ELEMENTS (samples); i++)
    {
      const Sample *sample = &samples[i];
      g_autofree char *marker = g_strdup_printf ("<sample:%s>", sample->file);
      g_autofree char *body = sluice_test_read_sample (sample->file);
      JsonNode *step;

      if (g_str_has_suffix (sample->file, ".jsonl"))
        {
          char *sse = sse_from_chunks (body);

          g_free (body);
          body = sse;
        }
      step = sluice_test_status_step (sample->status, body, sample->stream ? "text/event-stream" : NULL, sample->headers);
      /* Streams arrive 7 bytes at a time: events and lines split anywhere. */
      if (sample->stream)
        json_object_set_int_member (json_node_get_object (step), "chunk_bytes", 7);
      sluice_test_add_rule (rules, marker, step);
    }
  url = sluice_test_mock_start_rules (rules, NULL);
  plain = mock_provider (url, FALSE);
  streaming = mock_provider (url, TRUE);

  for (guint i = 0; i < G_N_ELEMENTS (samples); i++)
    {
      g_autofree char *marker = g_strdup_printf ("<sample:%s>", samples[i].file);
      g_autoptr(SluiceResponse) r = sluice_test_send_text (samples[i].stream ? streaming : plain, marker);

      assert_sample (&samples[i], r);
    }
  sluice_test_mock_stop ();
}

/* ---- the mock's own Anthropic answers and stream faults ------------------------------ */

static void
test_mock_answers (void)
{
  static const char scenario[] =
    "{\"rules\": [{\"match\": \"<cut>\", \"then\": \"cut\"},"
    " {\"match\": \"<garbage>\", \"then\": \"malformed_chunk\"},"
    " {\"match\": \"<stall>\", \"then\": \"stall\"},"
    " {\"match\": \"<no-usage>\", \"then\": \"no_usage\"},"
    " {\"match\": \"<limit>\", \"then\": \"rate_limit\"}]}";
  g_autofree char *url = sluice_test_mock_start_scenario (scenario, TEST_KEY);
  g_autoptr(SluiceProvider) plain = mock_provider (url, FALSE);
  g_autoptr(SluiceProvider) streaming = mock_provider_full (url, "\"stream\": true, \"idle_timeout\": \"300ms\"");
  g_autoptr(SluiceProvider) structured = mock_provider_full (url, "\"output_schema\": {\"type\": \"object\"}");
  g_autoptr(SluiceProvider) structured_stream = mock_provider_full (
    url, "\"stream\": true, \"output_schema\": {\"type\": \"object\"}");
  g_autoptr(SluiceProvider) wrong = sluice_test_provider_new (
    engine, "anthropic", "{\"model\": \"claude-x\", \"base_url\": \"%s/v1\", \"api_key\": \"sk-ant-wrong\"}", url);
  SluiceProvider *providers[] = { plain, streaming, structured, structured_stream };
  SluiceResponse *r;

  for (guint i = 0; i < G_N_ELEMENTS (providers); i++)
    {
      g_autoptr(JsonNode) answer = NULL;

      r = sluice_test_send_text (providers[i], "The service was great");
      g_test_message ("provider %u: %s", i, sluice_response_get_text (r));
      g_assert_null (sluice_response_get_error (r));
      answer = sluice_json_from_string (sluice_response_get_text (r), -1, NULL);
      g_assert_nonnull (answer);
      g_assert_cmpstr (sluice_json_get_string (json_node_get_object (answer), "sentiment"), ==, "positive");
      g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "stop");
      if (providers[i] == structured || providers[i] == structured_stream)
        assert_answer_call (r);
      else
        g_assert_null (sluice_response_get_tool_calls (r));
      g_assert_cmpstr (sluice_response_get_model (r), ==, "claude-sonnet-4-5");
      g_assert_true (g_str_has_prefix (sluice_response_get_request_id (r), "req_mock_"));
      g_assert_cmpint (sluice_response_get_prompt_tokens (r), >, 0);
      g_assert_cmpint (sluice_response_get_completion_tokens (r), >, 1);
      g_assert_false (sluice_response_get_usage_estimated (r));
      g_assert_cmpint (sluice_response_get_streamed (r), ==, i % 2 == 1);
      g_object_unref (r);
    }

  r = sluice_test_send_text (wrong, "The service was great");
  sluice_test_assert_failed (r, SLUICE_ERROR_AUTH, 401, "HTTP 401: invalid x-api-key");
  g_object_unref (r);

  r = sluice_test_send_text (streaming, "<cut>");
  sluice_test_assert_failed (r, SLUICE_ERROR_TRUNCATED, 200, NULL);
  g_assert_true (sluice_error_code_is_retryable (sluice_response_get_error (r)->code));
  g_object_unref (r);

  r = sluice_test_send_text (streaming, "<garbage>");
  sluice_test_assert_failed (r, SLUICE_ERROR_MALFORMED, 200, NULL);
  g_assert_true (sluice_error_code_is_retryable (sluice_response_get_error (r)->code));
  sluice_test_assert_contains (sluice_response_get_error (r)->message, "an event whose data is not a JSON object");
  g_object_unref (r);

  /* idle_timeout: the stream went silent after its first events. */
  r = sluice_test_send_text (streaming, "<stall>");
  sluice_test_assert_failed (r, SLUICE_ERROR_TIMEOUT, 200, NULL);
  g_object_unref (r);

  /* No usage in the answer: counted locally, and marked so. */
  r = sluice_test_send_text (streaming, "<no-usage>");
  g_assert_null (sluice_response_get_error (r));
  g_assert_true (sluice_response_get_usage_estimated (r));
  g_assert_cmpint (sluice_response_get_completion_tokens (r), >, 0);
  g_object_unref (r);

  r = sluice_test_send_text (plain, "<limit>");
  sluice_test_assert_failed (r, SLUICE_ERROR_RATE_LIMITED, 429, NULL);
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, 1000);
  sluice_test_assert_contains (sluice_response_get_error (r)->message, "HTTP 429: This request would exceed the rate limit");
  g_object_unref (r);

  sluice_test_mock_stop ();
}

/* ---- usage with the prompt cache --------------------------------------------------- */

static void
test_cache_usage (void)
{
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autoptr(SluiceProvider) plain = NULL;
  g_autoptr(SluiceProvider) streaming = NULL;
  g_autofree char *url = NULL;
  SluiceResponse *r;

  sluice_test_add_rule (rules, "<cached>", sluice_test_status_step (200,
    "{\"id\":\"msg_c\",\"type\":\"message\",\"model\":\"claude-x\",\"content\":[{\"type\":\"thinking\","
    "\"thinking\":\"hmm\",\"signature\":\"s\"},{\"type\":\"text\",\"text\":\"ok\"}],\"stop_reason\":\"end_turn\","
    "\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":100,\"cache_creation_input_tokens\":50,"
    "\"output_tokens\":3}}", NULL, NULL));
  sluice_test_add_rule (rules, "<cached-stream>", sluice_test_status_step (200,
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_s\",\"model\":\"claude-x\","
    "\"usage\":{\"input_tokens\":7,\"cache_read_input_tokens\":20,\"cache_creation_input_tokens\":5,"
    "\"output_tokens\":1}}}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
    "{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
    "{\"type\":\"thinking_delta\",\"thinking\":\"let me see\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
    "{\"type\":\"signature_delta\",\"signature\":\"sig\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
    "{\"type\":\"text_delta\",\"text\":\"fine\"}}\n\n"
    /* An event type the API may add later is ignored. */
    "event: content_block_annotation\ndata: {\"type\":\"content_block_annotation\",\"index\":1}\n\n"
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},"
    "\"usage\":{\"output_tokens\":9}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", "text/event-stream", NULL));
  url = sluice_test_mock_start_rules (rules, NULL);
  plain = mock_provider (url, FALSE);
  streaming = mock_provider (url, TRUE);

  /* Prompt tokens are all the input: uncached + read + written. */
  r = sluice_test_send_text (plain, "<cached>");
  g_assert_null (sluice_response_get_error (r));
  g_assert_cmpstr (sluice_response_get_text (r), ==, "ok");
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 160);
  g_assert_cmpint (sluice_response_get_cached_tokens (r), ==, 100);
  g_assert_cmpint (sluice_response_get_cache_write_tokens (r), ==, 50);
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 3);
  g_object_unref (r);

  r = sluice_test_send_text (streaming, "<cached-stream>");
  g_assert_null (sluice_response_get_error (r));
  g_assert_cmpstr (sluice_response_get_text (r), ==, "fine");
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "length");
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 32);
  g_assert_cmpint (sluice_response_get_cached_tokens (r), ==, 20);
  g_assert_cmpint (sluice_response_get_cache_write_tokens (r), ==, 5);
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 9);
  g_object_unref (r);

  sluice_test_mock_stop ();
}

/* Counts no request can have (the largest int64, in every member that
 * prompt tokens are summed from) are not believed, and their sum does not
 * overflow: the prompt is estimated, the cache counts are 0. */
#define HUGE_USAGE "\"input_tokens\":9223372036854775807,\"cache_read_input_tokens\":9223372036854775807," \
                   "\"cache_creation_input_tokens\":9223372036854775807"

static void
test_usage_not_believed (void)
{
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autoptr(SluiceProvider) plain = NULL;
  g_autoptr(SluiceProvider) streaming = NULL;
  g_autofree char *url = NULL;
  static const char * const markers[] = { "<huge>", "<huge-stream>" };

  sluice_test_add_rule (rules, "<huge>", sluice_test_status_step (200,
    "{\"id\":\"msg_h\",\"type\":\"message\",\"model\":\"claude-x\",\"content\":[{\"type\":\"text\","
    "\"text\":\"Counted.\"}],\"stop_reason\":\"end_turn\",\"usage\":{" HUGE_USAGE ",\"output_tokens\":3}}",
    NULL, NULL));
  sluice_test_add_rule (rules, "<huge-stream>", sluice_test_status_step (200,
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_h\",\"model\":\"claude-x\","
    "\"usage\":{" HUGE_USAGE ",\"output_tokens\":1}}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
    "{\"type\":\"text_delta\",\"text\":\"Counted.\"}}\n\n"
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
    "\"usage\":{" HUGE_USAGE ",\"output_tokens\":3}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", "text/event-stream", NULL));
  url = sluice_test_mock_start_rules (rules, NULL);
  plain = mock_provider (url, FALSE);
  streaming = mock_provider (url, TRUE);

  for (guint i = 0; i < G_N_ELEMENTS (markers); i++)
    {
      g_autoptr(SluiceResponse) r = sluice_test_send_text (i == 0 ? plain : streaming, markers[i]);
      gint64 prompt = sluice_response_get_prompt_tokens (r);

      g_test_message ("%s", markers[i]);
      g_assert_null (sluice_response_get_error (r));
      g_assert_cmpstr (sluice_response_get_text (r), ==, "Counted.");
      g_assert_true (sluice_response_get_usage_estimated (r));
      g_assert_cmpint (prompt, >=, sluice_estimate_tokens ("Be brief.") + sluice_estimate_tokens (markers[i]));
      g_assert_cmpint (prompt, <, 100);
      g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 3);
      g_assert_cmpint (sluice_response_get_cached_tokens (r), ==, 0);
      g_assert_cmpint (sluice_response_get_cache_write_tokens (r), ==, 0);
    }
  sluice_test_mock_stop ();
}

/* ---- error bodies ------------------------------------------------------------------- */

static char *
error_body (const char *type,
            const char *message)
{
  return g_strdup_printf ("{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":\"%s\"},"
                          "\"request_id\":\"req_x\"}", type, message);
}

static char *
rfc3339_from_now (gint seconds)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(GDateTime) then = g_date_time_add_seconds (now, seconds);

  return g_date_time_format (then, "%Y-%m-%dT%H:%M:%SZ");
}

static void
test_error_classification (void)
{
  static const struct { guint status; const char *type; const char *message; SluiceErrorCode code; } cases[] = {
    { 400, "invalid_request_error", "messages: roles must alternate", SLUICE_ERROR_BAD_REQUEST },
    { 400, "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum",
      SLUICE_ERROR_CONTEXT_OVERFLOW },
    { 400, "invalid_request_error", "input length and `max_tokens` exceed context limit: 197779 + 20000 > 200000",
      SLUICE_ERROR_CONTEXT_OVERFLOW },
    { 400, "invalid_request_error", "The request exceeds the model's context window.", SLUICE_ERROR_CONTEXT_OVERFLOW },
    { 401, "authentication_error", "invalid x-api-key", SLUICE_ERROR_AUTH },
    { 403, "permission_error", "Your API key does not have permission", SLUICE_ERROR_AUTH },
    { 404, "not_found_error", "model: claude-nonexistent", SLUICE_ERROR_NOT_FOUND },
    { 413, "request_too_large", "Request exceeds the maximum allowed number of bytes.", SLUICE_ERROR_BAD_REQUEST },
    { 429, "rate_limit_error", "Number of request tokens has exceeded your rate limit", SLUICE_ERROR_RATE_LIMITED },
    { 500, "api_error", "Internal server error", SLUICE_ERROR_SERVER },
    { 504, "timeout_error", "Request timed out", SLUICE_ERROR_TIMEOUT },
    { 529, "overloaded_error", "Overloaded", SLUICE_ERROR_OVERLOADED },
    /* The body's type wins over the status. */
    { 400, "billing_error", "Your credit balance is too low", SLUICE_ERROR_BUDGET_EXCEEDED },
    { 500, "overloaded_error", "Overloaded", SLUICE_ERROR_OVERLOADED },
    /* An unknown type: the status decides. */
    { 503, "brand_new_error", "Something new", SLUICE_ERROR_OVERLOADED },
    /* A status that says more than "bad request" is not overruled by a
     * body that says only that: a 5xx stays retryable, a 401 is the key. */
    { 500, "invalid_request_error", "x", SLUICE_ERROR_SERVER },
    { 401, "invalid_request_error", "x", SLUICE_ERROR_AUTH },
    { 429, "invalid_request_error", "x", SLUICE_ERROR_RATE_LIMITED },
  };
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autofree char *soon = rfc3339_from_now (5);
  g_autofree char *later = rfc3339_from_now (30);
  g_autofree char *limit = error_body ("rate_limit_error", "rate limited");
  g_autofree char *soonest = g_strdup_printf ("{\"anthropic-ratelimit-requests-reset\": \"%s\","
                                              " \"anthropic-ratelimit-tokens-reset\": \"%s\"}", later, soon);
  g_autofree char *exhausted = g_strdup_printf ("{\"anthropic-ratelimit-requests-reset\": \"%s\","
                                                " \"anthropic-ratelimit-requests-remaining\": \"12\","
                                                " \"anthropic-ratelimit-input-tokens-reset\": \"%s\","
                                                " \"anthropic-ratelimit-input-tokens-remaining\": \"0\"}",
                                                soon, later);
  g_autofree char *both = g_strdup_printf ("{\"retry-after\": \"2\", \"anthropic-ratelimit-tokens-reset\": \"%s\"}",
                                           later);
  g_autofree char *url = NULL;
  g_autoptr(SluiceProvider) provider = NULL;
  SluiceResponse *r;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *marker = g_strdup_printf ("<case:%u>", i);
      g_autofree char *body = error_body (cases[i].type, cases[i].message);

      sluice_test_add_rule (rules, marker, sluice_test_status_step (cases[i].status, body, NULL, NULL));
    }
  sluice_test_add_rule (rules, "<limit-soonest>", sluice_test_status_step (429, limit, NULL, soonest));
  sluice_test_add_rule (rules, "<limit-exhausted>", sluice_test_status_step (429, limit, NULL, exhausted));
  sluice_test_add_rule (rules, "<limit-retry-after>", sluice_test_status_step (429, limit, NULL, both));
  sluice_test_add_rule (rules, "<limit-nothing>", sluice_test_status_step (429, limit, NULL,
    "{\"anthropic-ratelimit-tokens-reset\": \"not a time\"}"));
  url = sluice_test_mock_start_rules (rules, NULL);
  provider = mock_provider (url, FALSE);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *marker = g_strdup_printf ("<case:%u>", i);
      g_autofree char *expected = g_strdup_printf ("HTTP %u: %s", cases[i].status, cases[i].message);
      g_autoptr(SluiceResponse) response = sluice_test_send_text (provider, marker);

      g_test_message ("%u %s %s", cases[i].status, cases[i].type, cases[i].message);
      sluice_test_assert_failed (response, cases[i].code, cases[i].status, expected);
      if (cases[i].status >= 500)
        g_assert_true (sluice_error_code_is_retryable (sluice_response_get_error (response)->code));
    }

  /* No Retry-After: the soonest reset; or the reset of the exhausted limit. */
  r = sluice_test_send_text (provider, "<limit-soonest>");
  sluice_test_assert_failed (r, SLUICE_ERROR_RATE_LIMITED, 429, NULL);
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), >, 3000);
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), <=, 5000);
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<limit-exhausted>");
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), >, 28000);
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), <=, 30000);
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<limit-retry-after>");
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, 2000);
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<limit-nothing>");
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, -1);
  g_object_unref (r);

  sluice_test_mock_stop ();
}

static void
test_refusal (void)
{
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autoptr(SluiceProvider) plain = NULL;
  g_autoptr(SluiceProvider) streaming = NULL;
  g_autofree char *url = NULL;
  SluiceResponse *r;

  sluice_test_add_rule (rules, "<refusal>", sluice_test_status_step (200,
    "{\"id\":\"msg_r\",\"type\":\"message\",\"model\":\"claude-x\",\"content\":[{\"type\":\"text\","
    "\"text\":\"I can\"}],\"stop_reason\":\"refusal\",\"usage\":{\"input_tokens\":9,\"output_tokens\":2}}",
    NULL, NULL));
  sluice_test_add_rule (rules, "<refusal-stream>", sluice_test_status_step (200,
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_s\",\"model\":\"claude-x\","
    "\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n"
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"refusal\"},"
    "\"usage\":{\"output_tokens\":2}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", "text/event-stream", NULL));
  url = sluice_test_mock_start_rules (rules, NULL);
  plain = mock_provider (url, FALSE);
  streaming = mock_provider (url, TRUE);

  /* A refusal is the content filter's outcome; its tokens were billed. */
  r = sluice_test_send_text (plain, "<refusal>");
  sluice_test_assert_failed (r, SLUICE_ERROR_CONTENT_FILTER, 200, NULL);
  g_assert_false (sluice_error_code_is_retryable (sluice_response_get_error (r)->code));
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "content_filter");
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 9);
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 2);
  g_object_unref (r);

  r = sluice_test_send_text (streaming, "<refusal-stream>");
  sluice_test_assert_failed (r, SLUICE_ERROR_CONTENT_FILTER, 200, NULL);
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "content_filter");
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 2);
  g_object_unref (r);

  sluice_test_mock_stop ();
}

/* ---- broken streams and bodies ---------------------------------------------------------- */

static void
test_broken_streams (void)
{
  static const char start[] =
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_b\",\"model\":\"claude-x\","
    "\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
    "{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
    "{\"type\":\"text_delta\",\"text\":\"Half an\"}}\n\n";
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autofree char *cut = g_strconcat (start, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\","
                                      "\"index\":0}\n\n", NULL);
  g_autofree char *garbage = g_strconcat (start, "event: content_block_delta\ndata: {\"type\":\"content_bl\n\n"
                                          "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", NULL);
  g_autoptr(SluiceProvider) streaming = NULL;
  g_autoptr(SluiceProvider) plain = NULL;
  g_autofree char *url = NULL;
  SluiceResponse *r;

  sluice_test_add_rule (rules, "<cut>", sluice_test_status_step (200, cut, "text/event-stream", NULL));
  sluice_test_add_rule (rules, "<garbage>", sluice_test_status_step (200, garbage, "text/event-stream", NULL));
  sluice_test_add_rule (rules, "<error-200>", sluice_test_status_step (200,
    "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}", NULL, NULL));
  sluice_test_add_rule (rules, "<no-content>", sluice_test_status_step (200,
    "{\"id\":\"msg_n\",\"type\":\"message\",\"stop_reason\":\"end_turn\"}", NULL, NULL));
  url = sluice_test_mock_start_rules (rules, NULL);
  streaming = mock_provider (url, TRUE);
  plain = mock_provider (url, FALSE);

  /* Cut before message_stop: truncated, worth another attempt. */
  r = sluice_test_send_text (streaming, "<cut>");
  sluice_test_assert_failed (r, SLUICE_ERROR_TRUNCATED, 200, NULL);
  g_assert_true (sluice_error_code_is_retryable (sluice_response_get_error (r)->code));
  g_assert_cmpstr (sluice_response_get_error (r)->message, ==,
                   "the stream from 127.0.0.1 ended after 4 events without its terminal event");
  g_assert_null (sluice_response_get_text (r));
  g_object_unref (r);

  r = sluice_test_send_text (streaming, "<garbage>");
  sluice_test_assert_failed (r, SLUICE_ERROR_MALFORMED, 200, NULL);
  g_assert_true (sluice_error_code_is_retryable (sluice_response_get_error (r)->code));
  g_assert_cmpstr (sluice_response_get_error (r)->message, ==,
                   "the stream from 127.0.0.1 failed after 4 events: an event whose data is not a JSON "
                   "object: \"{\"type\":\"content_bl\"");
  g_object_unref (r);

  /* An error object in a 200 answer still says what went wrong. */
  r = sluice_test_send_text (plain, "<error-200>");
  sluice_test_assert_failed (r, SLUICE_ERROR_OVERLOADED, 200, "an error inside a 2xx answer: Overloaded");
  g_object_unref (r);

  r = sluice_test_send_text (plain, "<no-content>");
  sluice_test_assert_failed (r, SLUICE_ERROR_MALFORMED, 200, "a message without a content array");
  g_object_unref (r);

  sluice_test_mock_stop ();
}

/* After message_stop nothing belongs to the answer: an error event does
 * not fail it, a text delta is not added to it. */
static void
test_events_after_stop (void)
{
  static const char whole[] =
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_w\",\"model\":\"claude-x\","
    "\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
    "{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
    "{\"type\":\"text_delta\",\"text\":\"Kept\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
    "\"usage\":{\"output_tokens\":4}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autofree char *error = g_strconcat (whole, "event: error\ndata: {\"type\":\"error\",\"error\":"
                                        "{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", NULL);
  g_autofree char *text = g_strconcat (whole, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                                       "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" and more\"}}\n\n",
                                       NULL);
  g_autoptr(SluiceProvider) streaming = NULL;
  g_autofree char *url = NULL;
  static const char * const markers[] = { "<error-after-stop>", "<text-after-stop>" };

  sluice_test_add_rule (rules, markers[0], sluice_test_status_step (200, error, "text/event-stream", NULL));
  sluice_test_add_rule (rules, markers[1], sluice_test_status_step (200, text, "text/event-stream", NULL));
  url = sluice_test_mock_start_rules (rules, NULL);
  streaming = mock_provider (url, TRUE);

  for (guint i = 0; i < G_N_ELEMENTS (markers); i++)
    {
      g_autoptr(SluiceResponse) r = sluice_test_send_text (streaming, markers[i]);

      g_test_message ("%s", markers[i]);
      g_assert_null (sluice_response_get_error (r));
      g_assert_cmpstr (sluice_response_get_text (r), ==, "Kept");
      g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "stop");
      g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 5);
      g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 4);
    }
  sluice_test_mock_stop ();
}

/* A block index no answer has (2^32, which a 32-bit cast makes 0; or
 * negative) must not alias block 0: its call is not merged into the first
 * call. Ignoring it or failing the answer as malformed are both fine. */
static void
test_block_index_does_not_alias (void)
{
  static const char * const indexes[] = { "4294967296", "-1" };
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autoptr(SluiceProvider) streaming = NULL;
  g_autofree char *url = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (indexes); i++)
    {
      g_autofree char *marker = g_strdup_printf ("<index:%s>", indexes[i]);
      g_autofree char *body = g_strdup_printf (
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_i\",\"model\":\"claude-x\","
        "\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
        "{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"first\",\"input\":{}}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
        "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\": 1}\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":%s,\"content_block\":"
        "{\"type\":\"tool_use\",\"id\":\"toolu_b\",\"name\":\"second\",\"input\":{}}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":%s,\"delta\":"
        "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"b\\\": 2}\"}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":%s}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},"
        "\"usage\":{\"output_tokens\":9}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", indexes[i], indexes[i], indexes[i]);

      sluice_test_add_rule (rules, marker, sluice_test_status_step (200, body, "text/event-stream", NULL));
    }
  url = sluice_test_mock_start_rules (rules, NULL);
  streaming = mock_provider (url, TRUE);

  for (guint i = 0; i < G_N_ELEMENTS (indexes); i++)
    {
      g_autofree char *marker = g_strdup_printf ("<index:%s>", indexes[i]);
      g_autoptr(SluiceResponse) r = sluice_test_send_text (streaming, marker);
      const GError *error = sluice_response_get_error (r);
      g_autofree char *calls = tool_calls_text (r);

      g_test_message ("index %s: %s", indexes[i], error != NULL ? error->message : calls);
      if (error != NULL)
        {
          sluice_test_assert_failed (r, SLUICE_ERROR_MALFORMED, 200, NULL);
          continue;
        }
      /* Ignored: the first call is whole and alone. */
      g_assert_cmpstr (calls, ==, "[{\"id\":\"toolu_a\",\"name\":\"first\",\"arguments\":\"{\\\"a\\\": 1}\"}]");
      g_assert_cmpstr (sluice_response_get_text (r), ==, "{\"a\": 1}");
    }
  sluice_test_mock_stop ();
}

/* ---- the request ----------------------------------------------------------------------- */

/* The last request's body; the key never goes in it. */
static JsonObject *
captured_body (SluiceTestCapture *capture)
{
  JsonObject *body = sluice_test_capture_body (capture);

  g_assert_null (strstr (capture->body, TEST_KEY));
  return body;
}

static const char text_reply[] =
  "{\"id\":\"msg_cap\",\"type\":\"message\",\"model\":\"claude-cap\",\"content\":[{\"type\":\"text\","
  "\"text\":\"captured\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":4,\"output_tokens\":1}}";

static void
test_request_shape (void)
{
  SluiceTestCapture capture = { .reply_type = "application/json", .reply = text_reply };
  g_autofree char *url = NULL;
  g_autoptr(SoupServer) server = sluice_test_capture_server_new (&capture, "/v1", &url);
  g_autofree char *minimal = g_strdup_printf (
    "{\"provider\": \"anthropic\", \"model\": \"claude-sonnet-4-5\", \"base_url\": \"%s\","
    " \"api_key\": \"" TEST_KEY "\", \"top_k\": null, \"anthropic_version\": null}", url);
  g_autofree char *full = g_strdup_printf (
    "{\"provider\": \"anthropic\", \"model\": \"claude-haiku-4-5\", \"base_url\": \"%s/\","
    " \"api_key\": \"" TEST_KEY "\", \"timeout\": \"5s\", \"max_tokens\": 64, \"temperature\": 0.5,"
    " \"top_p\": 0.25, \"top_k\": 40, \"stop\": \"END\", \"anthropic_version\": \"2099-01-01\","
    " \"tools\": [{\"name\": \"lookup\", \"input_schema\": {\"type\": \"object\"}}],"
    " \"tool_choice\": {\"type\": \"auto\"}, \"extra_headers\": {\"anthropic-beta\": \"tools-2099\"}}", url);
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceProvider) provider = sluice_test_provider_try (engine, "anthropic", minimal, &error);
  g_autoptr(SluiceProvider) tuned = NULL;
  g_autoptr(SluiceContext) context = sluice_test_context_new ("system", "Be brief.", "user", "a", "user", "b",
                                                              "system", "Answer in JSON.", "assistant", "c",
                                                              "assistant", "d", "user", "e", NULL);
  g_autoptr(JsonObject) body = NULL;
  SluiceResponse *r;

  g_assert_no_error (error);
  r = sluice_test_send_context (provider, context);
  g_assert_null (sluice_response_get_error (r));
  g_assert_cmpstr (sluice_response_get_text (r), ==, "captured");
  g_assert_cmpstr (sluice_response_get_model (r), ==, "claude-cap");
  g_object_unref (r);

  g_assert_cmpstr (capture.path, ==, "/v1/messages");
  g_assert_cmpstr (soup_message_headers_get_one (capture.headers, "x-api-key"), ==, TEST_KEY);
  g_assert_cmpstr (soup_message_headers_get_one (capture.headers, "anthropic-version"), ==, "2023-06-01");
  g_assert_null (soup_message_headers_get_one (capture.headers, "Authorization"));
  g_assert_cmpstr (soup_message_headers_get_content_type (capture.headers, NULL), ==, "application/json");
  body = captured_body (&capture);
  g_assert_cmpstr (json_object_get_string_member (body, "model"), ==, "claude-sonnet-4-5");
  /* Anthropic requires max_tokens: the default goes out. */
  g_assert_cmpint (json_object_get_int_member (body, "max_tokens"), ==, 4096);
  /* System messages leave the list; same-role neighbours are joined, so roles alternate. */
  g_assert_cmpstr (json_object_get_string_member (body, "system"), ==, "Be brief.\n\nAnswer in JSON.");
  sluice_test_assert_json (json_object_get_member (body, "messages"),
                           "[{\"role\":\"user\",\"content\":\"a\\n\\nb\"},{\"role\":\"assistant\",\"content\":\"c\\n\\nd\"},"
                           "{\"role\":\"user\",\"content\":\"e\"}]");
  g_assert_cmpuint (json_object_get_size (body), ==, 4);
  g_clear_pointer (&body, json_object_unref);

  tuned = sluice_test_provider_try (engine, "anthropic", full, &error);
  g_assert_no_error (error);
  r = sluice_test_send_context (tuned, context);
  g_assert_null (sluice_response_get_error (r));
  g_object_unref (r);
  g_assert_cmpstr (capture.path, ==, "/v1/messages");
  g_assert_cmpstr (soup_message_headers_get_one (capture.headers, "anthropic-version"), ==, "2099-01-01");
  g_assert_cmpstr (soup_message_headers_get_one (capture.headers, "anthropic-beta"), ==, "tools-2099");
  body = captured_body (&capture);
  g_assert_cmpint (json_object_get_int_member (body, "max_tokens"), ==, 64);
  g_assert_cmpfloat (json_object_get_double_member (body, "temperature"), ==, 0.5);
  g_assert_cmpfloat (json_object_get_double_member (body, "top_p"), ==, 0.25);
  g_assert_cmpint (json_object_get_int_member (body, "top_k"), ==, 40);
  sluice_test_assert_json (json_object_get_member (body, "stop_sequences"), "[\"END\"]");
  /* Tools pass through in Anthropic's own form. */
  sluice_test_assert_json (json_object_get_member (body, "tools"),
                           "[{\"name\":\"lookup\",\"input_schema\":{\"type\":\"object\"}}]");
  sluice_test_assert_json (json_object_get_member (body, "tool_choice"), "{\"type\":\"auto\"}");
  g_assert_false (json_object_has_member (body, "stream"));
  g_assert_cmpuint (json_object_get_size (body), ==, 10);

  sluice_test_capture_clear (&capture);
}

static const char answer_reply[] =
  "{\"id\":\"msg_ans\",\"type\":\"message\",\"model\":\"claude-cap\",\"content\":[{\"type\":\"tool_use\","
  "\"id\":\"toolu_1\",\"name\":\"answer\",\"input\":{\"sentiment\":\"positive\",\"confidence\":0.9}}],"
  "\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":40,\"output_tokens\":12}}";

static const char answer_stream_reply[] =
  "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_st\",\"model\":\"claude-cap\","
  "\"usage\":{\"input_tokens\":40,\"output_tokens\":1}}}\n\n"
  "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
  "{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"answer\",\"input\":{}}}\n\n"
  "event: ping\ndata: {\"type\": \"ping\"}\n\n"
  "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
  "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"sentim\"}}\n\n"
  "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
  "{\"type\":\"input_json_delta\",\"partial_json\":\"ent\\\": \\\"negative\\\"}\"}}\n\n"
  "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
  "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},"
  "\"usage\":{\"output_tokens\":8}}\n\n"
  "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

/* The call stage passes the output schema as the target's output_schema:
 * one forced tool carries the answer, which is text, not a tool call. */
static void
test_structured_output (void)
{
  SluiceTestCapture capture = { .reply_type = "application/json", .reply = answer_reply };
  g_autofree char *url = NULL;
  g_autoptr(SoupServer) server = sluice_test_capture_server_new (&capture, "/v1", &url);
  static const char schema[] =
    "{\"type\":\"object\",\"required\":[\"sentiment\"],\"properties\":{\"sentiment\":{\"type\":\"string\"}}}";
  g_autofree char *target = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceProvider) provider = NULL;
  g_autoptr(SluiceProvider) streaming = NULL;
  g_autoptr(SluiceContext) context = sluice_test_context_new ("user", "How was it?", NULL);
  g_autoptr(JsonObject) body = NULL;
  g_autofree char *tools = NULL;
  SluiceResponse *r;

  target = g_strdup_printf ("{\"provider\": \"anthropic\", \"model\": \"claude-x\", \"base_url\": \"%s\","
                            " \"api_key\": \"" TEST_KEY "\", \"output_schema\": %s,"
                            " \"tools\": [{\"name\": \"lookup\"}], \"tool_choice\": {\"type\": \"any\"}}",
                            url, schema);
  provider = sluice_test_provider_try (engine, "anthropic", target, &error);
  g_assert_no_error (error);

  r = sluice_test_send_context (provider, context);
  g_assert_null (sluice_response_get_error (r));
  g_assert_cmpstr (sluice_response_get_text (r), ==, "{\"sentiment\":\"positive\",\"confidence\":0.9}");
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "stop");
  assert_answer_call (r);
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 40);
  g_object_unref (r);

  body = captured_body (&capture);
  tools = g_strdup_printf ("[{\"name\":\"answer\",\"description\":\"Give the answer in this shape\","
                           "\"input_schema\":%s}]", schema);
  /* The target's own tools give way to the answer tool. */
  sluice_test_assert_json (json_object_get_member (body, "tools"), tools);
  sluice_test_assert_json (json_object_get_member (body, "tool_choice"), "{\"type\":\"tool\",\"name\":\"answer\"}");

  /* Streamed: the answer is the concatenated input_json_delta fragments. */
  g_clear_pointer (&body, json_object_unref);
  g_free (target);
  target = g_strdup_printf ("{\"provider\": \"anthropic\", \"model\": \"claude-x\", \"base_url\": \"%s\","
                            " \"api_key\": \"" TEST_KEY "\", \"stream\": true, \"output_schema\": %s}",
                            url, schema);
  streaming = sluice_test_provider_try (engine, "anthropic", target, &error);
  g_assert_no_error (error);
  capture.reply_type = "text/event-stream";
  capture.reply = answer_stream_reply;
  r = sluice_test_send_context (streaming, context);
  g_assert_null (sluice_response_get_error (r));
  g_assert_true (sluice_response_get_streamed (r));
  g_assert_cmpstr (sluice_response_get_text (r), ==, "{\"sentiment\": \"negative\"}");
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "stop");
  assert_answer_call (r);
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 8);
  g_object_unref (r);

  body = captured_body (&capture);
  g_assert_true (json_object_get_boolean_member (body, "stream"));
  g_assert_true (json_object_has_member (body, "tool_choice"));
  sluice_test_assert_contains (soup_message_headers_get_one (capture.headers, "Accept"), "text/event-stream");
  sluice_test_capture_clear (&capture);
}

/* A forced tool's input that never closes its JSON: the server broke the
 * answer (malformed, worth another attempt) unless max_tokens cut it, which
 * is a length finish whose text is the JSON so far. */
static void
test_structured_stream_unclosed (void)
{
#define UNCLOSED_STREAM(stop_reason) \
  "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_u\",\"model\":\"claude-x\"," \
  "\"usage\":{\"input_tokens\":40,\"output_tokens\":1}}}\n\n" \
  "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":" \
  "{\"type\":\"tool_use\",\"id\":\"toolu_u\",\"name\":\"answer\",\"input\":{}}}\n\n" \
  "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":" \
  "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"sentiment\\\": \"}}\n\n" \
  "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":" \
  "{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"neg\"}}\n\n" \
  "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" \
  "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"" stop_reason "\"}," \
  "\"usage\":{\"output_tokens\":7}}\n\n" \
  "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<tool-use>", sluice_test_status_step (200, UNCLOSED_STREAM ("tool_use"), "text/event-stream", NULL),
    "<max-tokens>", sluice_test_status_step (200, UNCLOSED_STREAM ("max_tokens"), "text/event-stream", NULL),
    NULL);
#undef UNCLOSED_STREAM
  g_autoptr(SluiceProvider) structured = mock_provider_full (
    url, "\"stream\": true, \"output_schema\": {\"type\": \"object\"}");
  SluiceResponse *r;

  r = sluice_test_send_text (structured, "<tool-use>");
  sluice_test_assert_failed (r, SLUICE_ERROR_MALFORMED, 200,
                             "the stream from 127.0.0.1 failed after 7 events: "
                             "the forced tool's input ended before its JSON did");
  g_assert_true (sluice_error_code_is_retryable (sluice_response_get_error (r)->code));
  g_assert_true (sluice_response_get_streamed (r));
  g_assert_null (sluice_response_get_text (r));
  g_object_unref (r);

  r = sluice_test_send_text (structured, "<max-tokens>");
  g_assert_no_error ((GError *) sluice_response_get_error (r));
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "length");
  g_assert_cmpstr (sluice_response_get_text (r), ==, "{\"sentiment\": \"neg");
  assert_answer_call (r);
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 7);
  g_object_unref (r);

  sluice_test_mock_stop ();
}

static void
test_messages_refused (void)
{
  static const struct { const char *role1, *text1, *role2, *text2; const char *message; } cases[] = {
    { "system", "Only a system prompt.", NULL, NULL, "no messages to send: add an assemble stage" },
    { "assistant", "I start.", "user", "Hi", "the first message after the system prompt must be the "
                                             "user's: Anthropic requires it" },
    { "user", "Hi", "tool", "{}", "message 2 has the role 'tool'; Anthropic takes system, user and assistant" },
  };
  g_autoptr(SluiceProvider) provider = sluice_test_provider_new (
    engine, "anthropic", "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"base_url\": \"http://127.0.0.1:9\"}");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(SluiceContext) context = sluice_test_context_new (cases[i].role1, cases[i].text1,
                                                                  cases[i].role2, cases[i].text2, NULL);
      g_autoptr(SluiceResponse) r = sluice_test_send_context (provider, context);

      sluice_test_assert_failed (r, SLUICE_ERROR_BAD_REQUEST, 0, cases[i].message);
    }
}

/* ---- configuration ------------------------------------------------------------------------ */

static void
test_configuration (void)
{
  static const struct { const char *target; SluiceErrorCode code; const char *message; } cases[] = {
    { "{\"model\": \"m\"}", SLUICE_ERROR_AUTH, "no API key: set api_key (e.g. api_key: ${ANTHROPIC_API_KEY})" },
    { "{\"model\": \"m\", \"api_key\": \"\"}", SLUICE_ERROR_AUTH,
      "no API key: set api_key (e.g. api_key: ${ANTHROPIC_API_KEY})" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"temperature\": 1.5}", SLUICE_ERROR_INVALID_CONFIG,
      "'temperature' must be a number from 0 to 1 (Anthropic's range, not OpenAI's 0 to 2)" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"top_p\": -0.1}", SLUICE_ERROR_INVALID_CONFIG,
      "'top_p' must be a number from 0 to 1" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"top_k\": 1.5}", SLUICE_ERROR_INVALID_CONFIG,
      "'top_k' must be a non-negative integer" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"max_tokens\": 0}", SLUICE_ERROR_INVALID_CONFIG,
      "'max_tokens' must be a positive integer" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"stop\": []}", SLUICE_ERROR_INVALID_CONFIG,
      "'stop' must be a string or an array of strings, none empty" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"anthropic_version\": \"\"}", SLUICE_ERROR_INVALID_CONFIG,
      "'anthropic_version' must be a one-line string, e.g. 2023-06-01" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"tools\": {}}", SLUICE_ERROR_INVALID_CONFIG,
      "'tools' must be an array of tool definitions ({name, description, input_schema})" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"tool_choice\": \"auto\"}", SLUICE_ERROR_INVALID_CONFIG,
      "'tool_choice' must be an object such as {type: auto}" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    sluice_test_assert_config_refused (engine, "anthropic", cases[i].target, cases[i].code, cases[i].message, TEST_KEY);
}

/* ---- the key never shows -------------------------------------------------------------------- */

static void
test_secret_is_scrubbed (void)
{
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autoptr(SluiceProvider) plain = NULL;
  g_autoptr(SluiceProvider) streaming = NULL;
  g_autofree char *url = NULL;
  static const struct { const char *marker; gboolean stream; SluiceErrorCode code; } cases[] = {
    { "<echo-401>", FALSE, SLUICE_ERROR_AUTH },
    { "<echo-200>", FALSE, SLUICE_ERROR_SERVER },
    { "<echo-html>", FALSE, SLUICE_ERROR_MALFORMED },
    { "<echo-stream-error>", TRUE, SLUICE_ERROR_AUTH },
    { "<echo-stream-garbage>", TRUE, SLUICE_ERROR_MALFORMED },
  };

  sluice_test_add_rule (rules, "<echo-401>", sluice_test_status_step (401,
    "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"invalid x-api-key: "
    TEST_KEY "\"}}", NULL, NULL));
  sluice_test_add_rule (rules, "<echo-200>", sluice_test_status_step (200,
    "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"key " TEST_KEY " failed\"}}", NULL, NULL));
  sluice_test_add_rule (rules, "<echo-html>", sluice_test_status_step (200, "<html>x-api-key=" TEST_KEY "</html>",
                                                                      "text/html", NULL));
  sluice_test_add_rule (rules, "<echo-stream-error>", sluice_test_status_step (200,
    "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"permission_error\",\"message\":\"the key "
    TEST_KEY " may not\"}}\n\n", "text/event-stream", NULL));
  sluice_test_add_rule (rules, "<echo-stream-garbage>", sluice_test_status_step (200,
    "event: message_start\ndata: not json " TEST_KEY "\n\n", "text/event-stream", NULL));
  url = sluice_test_mock_start_rules (rules, NULL);
  plain = mock_provider (url, FALSE);
  streaming = mock_provider (url, TRUE);

  sluice_test_clear_logs ();
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(SluiceResponse) r = sluice_test_send_text (cases[i].stream ? streaming : plain, cases[i].marker);
      const char *message = sluice_response_get_error (r)->message;

      g_test_message ("%s: %s", cases[i].marker, message);
      g_assert_error ((GError *) sluice_response_get_error (r), SLUICE_ERROR, (gint) cases[i].code);
      sluice_test_assert_contains (message, "[redacted]");
      sluice_test_assert_no_secret ("the error", message, TEST_KEY, "Q4r8", NULL);
    }
  g_assert_null (strstr (sluice_test_get_logs (), TEST_KEY));
  sluice_test_mock_stop ();
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  engine = sluice_test_provider_setup ("anthropic");
  if (engine == NULL)
    return 77;

  g_test_add_func ("/anthropic/samples", test_samples);
  g_test_add_func ("/anthropic/mock-answers", test_mock_answers);
  g_test_add_func ("/anthropic/cache-usage", test_cache_usage);
  g_test_add_func ("/anthropic/usage-not-believed", test_usage_not_believed);
  g_test_add_func ("/anthropic/error-classification", test_error_classification);
  g_test_add_func ("/anthropic/refusal", test_refusal);
  g_test_add_func ("/anthropic/broken-streams", test_broken_streams);
  g_test_add_func ("/anthropic/events-after-stop", test_events_after_stop);
  g_test_add_func ("/anthropic/request-shape", test_request_shape);
  g_test_add_func ("/anthropic/structured-output", test_structured_output);
  g_test_add_func ("/anthropic/structured-stream-unclosed", test_structured_stream_unclosed);
  g_test_add_func ("/anthropic/messages-refused", test_messages_refused);
  g_test_add_func ("/anthropic/configuration", test_configuration);
  g_test_add_func ("/anthropic/secret-is-scrubbed", test_secret_is_scrubbed);
  /* Last: while block indexes still alias it fails, and the tests before it still run. */
  g_test_add_func ("/anthropic/block-index-does-not-alias", test_block_index_does_not_alias);

  return sluice_test_provider_run (engine);
}
