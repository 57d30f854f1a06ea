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
#include "sluice-test-util.h"

#include <string.h>

#define TEST_KEY "sk-ant-sluice-test-Q4r8Tz2Wm6Kx9Bn3"

static SluiceEngine *engine;
static char *samples_dir;

/* ---- harness -------------------------------------------------------------------- */

static char *
read_sample (const char *name)
{
  g_autofree char *path = g_build_filename (samples_dir, name, NULL);
  g_autoptr(GError) error = NULL;
  char *contents = NULL;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  return contents;
}

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

/* A scenario step answering with @status, @body and @headers (a JSON
 * object text or NULL). */
static JsonNode *
status_step (guint       status,
             const char *body,
             const char *content_type,
             const char *headers)
{
  g_autoptr(JsonObject) step = json_object_new ();

  json_object_set_string_member (step, "kind", "status");
  json_object_set_int_member (step, "status", status);
  if (body != NULL)
    json_object_set_string_member (step, "body", body);
  if (content_type != NULL)
    json_object_set_string_member (step, "content_type", content_type);
  if (headers != NULL)
    json_object_set_member (step, "headers", sluice_json_from_string (headers, -1, NULL));
  return json_node_init_object (json_node_alloc (), step);
}

/* Starts the mock with the rules of @rules (marker → step). */
static char *
start_mock (JsonObject *rules)
{
  g_autoptr(JsonArray) array = json_array_new ();
  g_autoptr(JsonObject) root = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *text = NULL;
  g_autofree char *path = NULL;
  JsonObjectIter iter;
  const char *marker;
  JsonNode *step;

  json_object_iter_init (&iter, rules);
  while (json_object_iter_next (&iter, &marker, &step))
    {
      JsonObject *rule = json_object_new ();

      json_object_set_string_member (rule, "match", marker);
      json_object_set_member (rule, "then", json_node_copy (step));
      json_array_add_object_element (array, rule);
    }
  json_object_set_array_member (root, "rules", json_array_ref (array));
  node = json_node_init_object (json_node_alloc (), root);
  text = sluice_json_to_string (node);
  path = sluice_test_write_file ("scenario.json", text);
  return sluice_test_mock_start ("--scenario", path, NULL);
}

static SluiceProvider *
make_provider (const char  *target_json,
               GError     **error)
{
  g_autoptr(JsonNode) target = sluice_json_from_string (target_json, -1, NULL);
  g_autoptr(GObject) provider = NULL;

  g_assert_nonnull (target);
  provider = sluice_engine_create (engine, "provider", "anthropic", NULL);
  g_assert_true (SLUICE_IS_PROVIDER (provider));
  if (!sluice_provider_configure (SLUICE_PROVIDER (provider), json_node_get_object (target), error))
    return NULL;
  return SLUICE_PROVIDER (g_steal_pointer (&provider));
}

/* A provider aimed at the mock's /v1/messages with the test key, and
 * @more target members (JSON text, or ""). */
static SluiceProvider *
mock_provider_full (const char *mock_url,
                    const char *more)
{
  g_autofree char *target = g_strdup_printf (
    "{\"provider\": \"anthropic\", \"model\": \"claude-sonnet-4-5\", \"base_url\": \"%s/v1\","
    " \"api_key\": \"" TEST_KEY "\"%s%s}", mock_url, *more != '\0' ? ", " : "", more);
  g_autoptr(GError) error = NULL;
  SluiceProvider *provider = make_provider (target, &error);

  g_assert_no_error (error);
  return provider;
}

static SluiceProvider *
mock_provider (const char *mock_url,
               gboolean    stream)
{
  return mock_provider_full (mock_url, stream ? "\"stream\": true" : "");
}

static SluiceContext *
new_context (const char *first_role,
             ...)
{
  g_autoptr(JsonArray) messages = json_array_new ();
  SluiceContext *context = sluice_context_new (NULL);
  va_list args;

  va_start (args, first_role);
  for (const char *role = first_role; role != NULL; role = va_arg (args, const char *))
    {
      JsonObject *message = json_object_new ();

      json_object_set_string_member (message, "role", role);
      json_object_set_string_member (message, "content", va_arg (args, const char *));
      json_array_add_object_element (messages, message);
    }
  va_end (args);
  sluice_context_set_messages (context, messages);
  return context;
}

typedef struct
{
  gboolean        done;
  SluiceResponse *response;
  GError         *error;
} Sent;

static void
on_sent (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Sent *sent = user_data;

  sent->response = sluice_provider_send_finish (SLUICE_PROVIDER (source), result, &sent->error);
  sent->done = TRUE;
}

static SluiceResponse *
send_context (SluiceProvider *provider,
              SluiceContext  *context)
{
  Sent sent = { 0 };

  sluice_provider_send_async (provider, context, NULL, on_sent, &sent);
  while (!sent.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_no_error (sent.error);
  g_assert_nonnull (sent.response);
  return sent.response;
}

static SluiceResponse *
send_text (SluiceProvider *provider,
           const char     *user_text)
{
  g_autoptr(SluiceContext) context = new_context ("system", "Be brief.", "user", user_text, NULL);

  return send_context (provider, context);
}

static void
assert_failed (SluiceResponse  *response,
               SluiceErrorCode  code,
               guint            http_status)
{
  const GError *error = sluice_response_get_error (response);

  g_assert_error ((GError *) error, SLUICE_ERROR, (gint) code);
  g_assert_cmpuint (sluice_response_get_http_status (response), ==, http_status);
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
  { "error_529_overloaded.json", 529, FALSE, NO_ID, SLUICE_ERROR_OVERLOADED, "HTTP 529: Overloaded",
    NULL, NULL, NULL, NULL, NULL, -1, -1 },
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

      assert_failed (r, sample->code, sample->status);
      g_assert_cmpstr (sluice_response_get_error (r)->message, ==, message);
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
  g_autoptr(JsonObject) rules = json_object_new ();
  g_autoptr(GDir) dir = g_dir_open (samples_dir, 0, NULL);
  g_autoptr(SluiceProvider) plain = NULL;
  g_autoptr(SluiceProvider) streaming = NULL;
  g_autofree char *url = NULL;
  const char *name;
  guint n_files = 0;

  /* Every recorded file has its row: a new sample fails here until it does. */
  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      gboolean listed = FALSE;

      for (guint i = 0; i < G_N_ELEMENTS (samples); i++)
        listed |= g_str_equal (samples[i].file, name);
      if (!listed)
        g_error ("%s has no expected value in the samples table", name);
      n_files++;
    }
  g_assert_cmpuint (n_files, ==, G_N_ELEMENTS (samples));

  for (guint i = 0; i < G_N_ELEMENTS (samples); i++)
    {
      const Sample *sample = &samples[i];
      g_autofree char *marker = g_strdup_printf ("<sample:%s>", sample->file);
      g_autofree char *body = read_sample (sample->file);
      JsonNode *step;

      if (g_str_has_suffix (sample->file, ".jsonl"))
        {
          char *sse = sse_from_chunks (body);

          g_free (body);
          body = sse;
        }
      step = status_step (sample->status, body, sample->stream ? "text/event-stream" : NULL, sample->headers);
      /* Streams arrive 7 bytes at a time: events and lines split anywhere. */
      if (sample->stream)
        json_object_set_int_member (json_node_get_object (step), "chunk_bytes", 7);
      json_object_set_member (rules, marker, step);
    }
  url = start_mock (rules);
  plain = mock_provider (url, FALSE);
  streaming = mock_provider (url, TRUE);

  for (guint i = 0; i < G_N_ELEMENTS (samples); i++)
    {
      g_autofree char *marker = g_strdup_printf ("<sample:%s>", samples[i].file);
      g_autoptr(SluiceResponse) r = send_text (samples[i].stream ? streaming : plain, marker);

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
  g_autofree char *path = sluice_test_write_file ("scenario.json", scenario);
  g_autofree char *url = sluice_test_mock_start ("--scenario", path, "--require-key", TEST_KEY, NULL);
  g_autofree char *wrong_target = g_strdup_printf (
    "{\"model\": \"claude-x\", \"base_url\": \"%s/v1\", \"api_key\": \"sk-ant-wrong\"}", url);
  g_autoptr(SluiceProvider) plain = mock_provider (url, FALSE);
  g_autoptr(SluiceProvider) streaming = mock_provider_full (url, "\"stream\": true, \"idle_timeout\": \"300ms\"");
  g_autoptr(SluiceProvider) structured = mock_provider_full (url, "\"output_schema\": {\"type\": \"object\"}");
  g_autoptr(SluiceProvider) structured_stream = mock_provider_full (
    url, "\"stream\": true, \"output_schema\": {\"type\": \"object\"}");
  g_autoptr(SluiceProvider) wrong = make_provider (wrong_target, NULL);
  SluiceProvider *providers[] = { plain, streaming, structured, structured_stream };
  SluiceResponse *r;

  for (guint i = 0; i < G_N_ELEMENTS (providers); i++)
    {
      g_autoptr(JsonNode) answer = NULL;

      r = send_text (providers[i], "The service was great");
      g_test_message ("provider %u: %s", i, sluice_response_get_text (r));
      g_assert_null (sluice_response_get_error (r));
      answer = sluice_json_from_string (sluice_response_get_text (r), -1, NULL);
      g_assert_nonnull (answer);
      g_assert_cmpstr (sluice_json_get_string (json_node_get_object (answer), "sentiment"), ==, "positive");
      g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "stop");
      g_assert_null (sluice_response_get_tool_calls (r));
      g_assert_cmpstr (sluice_response_get_model (r), ==, "claude-sonnet-4-5");
      g_assert_true (g_str_has_prefix (sluice_response_get_request_id (r), "req_mock_"));
      g_assert_cmpint (sluice_response_get_prompt_tokens (r), >, 0);
      g_assert_cmpint (sluice_response_get_completion_tokens (r), >, 1);
      g_assert_false (sluice_response_get_usage_estimated (r));
      g_assert_cmpint (sluice_response_get_streamed (r), ==, i % 2 == 1);
      g_object_unref (r);
    }

  r = send_text (wrong, "The service was great");
  assert_failed (r, SLUICE_ERROR_AUTH, 401);
  g_assert_cmpstr (sluice_response_get_error (r)->message, ==, "HTTP 401: invalid x-api-key");
  g_object_unref (r);

  r = send_text (streaming, "<cut>");
  assert_failed (r, SLUICE_ERROR_TRUNCATED, 200);
  g_assert_true (sluice_error_code_is_retryable (sluice_response_get_error (r)->code));
  g_object_unref (r);

  r = send_text (streaming, "<garbage>");
  assert_failed (r, SLUICE_ERROR_MALFORMED, 200);
  g_assert_true (sluice_error_code_is_retryable (sluice_response_get_error (r)->code));
  sluice_test_assert_contains (sluice_response_get_error (r)->message, "an event whose data is not a JSON object");
  g_object_unref (r);

  /* idle_timeout: the stream went silent after its first events. */
  r = send_text (streaming, "<stall>");
  assert_failed (r, SLUICE_ERROR_TIMEOUT, 200);
  g_object_unref (r);

  /* No usage in the answer: counted locally, and marked so. */
  r = send_text (streaming, "<no-usage>");
  g_assert_null (sluice_response_get_error (r));
  g_assert_true (sluice_response_get_usage_estimated (r));
  g_assert_cmpint (sluice_response_get_completion_tokens (r), >, 0);
  g_object_unref (r);

  r = send_text (plain, "<limit>");
  assert_failed (r, SLUICE_ERROR_RATE_LIMITED, 429);
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, 1000);
  sluice_test_assert_contains (sluice_response_get_error (r)->message, "HTTP 429: This request would exceed the rate limit");
  g_object_unref (r);

  sluice_test_mock_stop ();
}

/* ---- usage with the prompt cache --------------------------------------------------- */

static void
test_cache_usage (void)
{
  g_autoptr(JsonObject) rules = json_object_new ();
  g_autoptr(SluiceProvider) plain = NULL;
  g_autoptr(SluiceProvider) streaming = NULL;
  g_autofree char *url = NULL;
  SluiceResponse *r;

  json_object_set_member (rules, "<cached>", status_step (200,
    "{\"id\":\"msg_c\",\"type\":\"message\",\"model\":\"claude-x\",\"content\":[{\"type\":\"thinking\","
    "\"thinking\":\"hmm\",\"signature\":\"s\"},{\"type\":\"text\",\"text\":\"ok\"}],\"stop_reason\":\"end_turn\","
    "\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":100,\"cache_creation_input_tokens\":50,"
    "\"output_tokens\":3}}", NULL, NULL));
  json_object_set_member (rules, "<cached-stream>", status_step (200,
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
  url = start_mock (rules);
  plain = mock_provider (url, FALSE);
  streaming = mock_provider (url, TRUE);

  /* Prompt tokens are all the input: uncached + read + written. */
  r = send_text (plain, "<cached>");
  g_assert_null (sluice_response_get_error (r));
  g_assert_cmpstr (sluice_response_get_text (r), ==, "ok");
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 160);
  g_assert_cmpint (sluice_response_get_cached_tokens (r), ==, 100);
  g_assert_cmpint (sluice_response_get_cache_write_tokens (r), ==, 50);
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 3);
  g_object_unref (r);

  r = send_text (streaming, "<cached-stream>");
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
  };
  g_autoptr(JsonObject) rules = json_object_new ();
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

      json_object_set_member (rules, marker, status_step (cases[i].status, body, NULL, NULL));
    }
  json_object_set_member (rules, "<limit-soonest>", status_step (429, limit, NULL, soonest));
  json_object_set_member (rules, "<limit-exhausted>", status_step (429, limit, NULL, exhausted));
  json_object_set_member (rules, "<limit-retry-after>", status_step (429, limit, NULL, both));
  json_object_set_member (rules, "<limit-nothing>", status_step (429, limit, NULL,
                          "{\"anthropic-ratelimit-tokens-reset\": \"not a time\"}"));
  url = start_mock (rules);
  provider = mock_provider (url, FALSE);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *marker = g_strdup_printf ("<case:%u>", i);
      g_autofree char *expected = g_strdup_printf ("HTTP %u: %s", cases[i].status, cases[i].message);
      g_autoptr(SluiceResponse) response = send_text (provider, marker);

      g_test_message ("%s %s", cases[i].type, cases[i].message);
      assert_failed (response, cases[i].code, cases[i].status);
      g_assert_cmpstr (sluice_response_get_error (response)->message, ==, expected);
    }

  /* No Retry-After: the soonest reset; or the reset of the exhausted limit. */
  r = send_text (provider, "<limit-soonest>");
  assert_failed (r, SLUICE_ERROR_RATE_LIMITED, 429);
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), >, 3000);
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), <=, 5000);
  g_object_unref (r);

  r = send_text (provider, "<limit-exhausted>");
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), >, 28000);
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), <=, 30000);
  g_object_unref (r);

  r = send_text (provider, "<limit-retry-after>");
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, 2000);
  g_object_unref (r);

  r = send_text (provider, "<limit-nothing>");
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, -1);
  g_object_unref (r);

  sluice_test_mock_stop ();
}

static void
test_refusal (void)
{
  g_autoptr(JsonObject) rules = json_object_new ();
  g_autoptr(SluiceProvider) plain = NULL;
  g_autoptr(SluiceProvider) streaming = NULL;
  g_autofree char *url = NULL;
  SluiceResponse *r;

  json_object_set_member (rules, "<refusal>", status_step (200,
    "{\"id\":\"msg_r\",\"type\":\"message\",\"model\":\"claude-x\",\"content\":[{\"type\":\"text\","
    "\"text\":\"I can\"}],\"stop_reason\":\"refusal\",\"usage\":{\"input_tokens\":9,\"output_tokens\":2}}",
    NULL, NULL));
  json_object_set_member (rules, "<refusal-stream>", status_step (200,
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_s\",\"model\":\"claude-x\","
    "\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n"
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"refusal\"},"
    "\"usage\":{\"output_tokens\":2}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", "text/event-stream", NULL));
  url = start_mock (rules);
  plain = mock_provider (url, FALSE);
  streaming = mock_provider (url, TRUE);

  /* A refusal is the content filter's outcome; its tokens were billed. */
  r = send_text (plain, "<refusal>");
  assert_failed (r, SLUICE_ERROR_CONTENT_FILTER, 200);
  g_assert_false (sluice_error_code_is_retryable (sluice_response_get_error (r)->code));
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "content_filter");
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 9);
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 2);
  g_object_unref (r);

  r = send_text (streaming, "<refusal-stream>");
  assert_failed (r, SLUICE_ERROR_CONTENT_FILTER, 200);
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
  g_autoptr(JsonObject) rules = json_object_new ();
  g_autofree char *cut = g_strconcat (start, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\","
                                      "\"index\":0}\n\n", NULL);
  g_autofree char *garbage = g_strconcat (start, "event: content_block_delta\ndata: {\"type\":\"content_bl\n\n"
                                          "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", NULL);
  g_autoptr(SluiceProvider) streaming = NULL;
  g_autoptr(SluiceProvider) plain = NULL;
  g_autofree char *url = NULL;
  SluiceResponse *r;

  json_object_set_member (rules, "<cut>", status_step (200, cut, "text/event-stream", NULL));
  json_object_set_member (rules, "<garbage>", status_step (200, garbage, "text/event-stream", NULL));
  json_object_set_member (rules, "<error-200>", status_step (200,
    "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}", NULL, NULL));
  json_object_set_member (rules, "<no-content>", status_step (200,
    "{\"id\":\"msg_n\",\"type\":\"message\",\"stop_reason\":\"end_turn\"}", NULL, NULL));
  url = start_mock (rules);
  streaming = mock_provider (url, TRUE);
  plain = mock_provider (url, FALSE);

  /* Cut before message_stop: truncated, worth another attempt. */
  r = send_text (streaming, "<cut>");
  assert_failed (r, SLUICE_ERROR_TRUNCATED, 200);
  g_assert_true (sluice_error_code_is_retryable (sluice_response_get_error (r)->code));
  g_assert_cmpstr (sluice_response_get_error (r)->message, ==,
                   "the stream from 127.0.0.1 ended after 4 events without its terminal event");
  g_assert_null (sluice_response_get_text (r));
  g_object_unref (r);

  r = send_text (streaming, "<garbage>");
  assert_failed (r, SLUICE_ERROR_MALFORMED, 200);
  g_assert_true (sluice_error_code_is_retryable (sluice_response_get_error (r)->code));
  g_assert_cmpstr (sluice_response_get_error (r)->message, ==,
                   "the stream from 127.0.0.1 failed after 4 events: an event whose data is not a JSON "
                   "object: \"{\"type\":\"content_bl\"");
  g_object_unref (r);

  /* An error object in a 200 answer still says what went wrong. */
  r = send_text (plain, "<error-200>");
  assert_failed (r, SLUICE_ERROR_OVERLOADED, 200);
  g_assert_cmpstr (sluice_response_get_error (r)->message, ==, "an error inside a 2xx answer: Overloaded");
  g_object_unref (r);

  r = send_text (plain, "<no-content>");
  assert_failed (r, SLUICE_ERROR_MALFORMED, 200);
  g_assert_cmpstr (sluice_response_get_error (r)->message, ==, "a message without a content array");
  g_object_unref (r);

  sluice_test_mock_stop ();
}

/* ---- the request ----------------------------------------------------------------------- */

typedef struct
{
  char               *path;
  SoupMessageHeaders *headers;
  GBytes             *body;
  const char         *reply_type;
  const char         *reply;
} Capture;

static void
capture_clear (Capture *capture)
{
  g_clear_pointer (&capture->path, g_free);
  g_clear_pointer (&capture->headers, soup_message_headers_unref);
  g_clear_pointer (&capture->body, g_bytes_unref);
}

static void
capture_handler (SoupServer        *server,
                 SoupServerMessage *msg,
                 const char        *path,
                 GHashTable        *query,
                 gpointer           user_data)
{
  Capture *capture = user_data;

  capture_clear (capture);
  capture->path = g_strdup (path);
  capture->headers = soup_message_headers_ref (soup_server_message_get_request_headers (msg));
  capture->body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, capture->reply_type, SOUP_MEMORY_STATIC,
                                    capture->reply, strlen (capture->reply));
}

static SoupServer *
start_capture_server (Capture  *capture,
                      char    **base_url)
{
  SoupServer *server = soup_server_new (NULL, NULL);
  g_autoptr(GError) error = NULL;
  GSList *uris;

  soup_server_add_handler (server, NULL, capture_handler, capture, NULL);
  soup_server_listen_local (server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
  g_assert_no_error (error);
  uris = soup_server_get_uris (server);
  *base_url = g_strdup_printf ("http://127.0.0.1:%d/v1", g_uri_get_port (uris->data));
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return server;
}

static JsonObject *
captured_body (Capture *capture)
{
  g_autoptr(GError) error = NULL;
  JsonNode *node = sluice_json_from_string (g_bytes_get_data (capture->body, NULL),
                                            (gssize) g_bytes_get_size (capture->body), &error);
  JsonObject *object;

  g_assert_no_error (error);
  g_assert_null (strstr (g_bytes_get_data (capture->body, NULL), TEST_KEY));
  object = json_object_ref (json_node_get_object (node));
  json_node_unref (node);
  return object;
}

static void
assert_json (JsonNode   *node,
             const char *expected)
{
  g_autofree char *text = sluice_json_to_string (node);

  g_assert_cmpstr (text, ==, expected);
}

static const char text_reply[] =
  "{\"id\":\"msg_cap\",\"type\":\"message\",\"model\":\"claude-cap\",\"content\":[{\"type\":\"text\","
  "\"text\":\"captured\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":4,\"output_tokens\":1}}";

static void
test_request_shape (void)
{
  Capture capture = { .reply_type = "application/json", .reply = text_reply };
  g_autofree char *url = NULL;
  g_autoptr(SoupServer) server = start_capture_server (&capture, &url);
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
  g_autoptr(SluiceProvider) provider = make_provider (minimal, &error);
  g_autoptr(SluiceProvider) tuned = NULL;
  g_autoptr(SluiceContext) context = new_context ("system", "Be brief.", "user", "a", "user", "b",
                                                  "system", "Answer in JSON.", "assistant", "c",
                                                  "assistant", "d", "user", "e", NULL);
  g_autoptr(JsonObject) body = NULL;
  SluiceResponse *r;

  g_assert_no_error (error);
  r = send_context (provider, context);
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
  assert_json (json_object_get_member (body, "messages"),
               "[{\"role\":\"user\",\"content\":\"a\\n\\nb\"},{\"role\":\"assistant\",\"content\":\"c\\n\\nd\"},"
               "{\"role\":\"user\",\"content\":\"e\"}]");
  g_assert_cmpuint (json_object_get_size (body), ==, 4);
  g_clear_pointer (&body, json_object_unref);

  tuned = make_provider (full, &error);
  g_assert_no_error (error);
  r = send_context (tuned, context);
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
  assert_json (json_object_get_member (body, "stop_sequences"), "[\"END\"]");
  /* Tools pass through in Anthropic's own form. */
  assert_json (json_object_get_member (body, "tools"),
               "[{\"name\":\"lookup\",\"input_schema\":{\"type\":\"object\"}}]");
  assert_json (json_object_get_member (body, "tool_choice"), "{\"type\":\"auto\"}");
  g_assert_false (json_object_has_member (body, "stream"));
  g_assert_cmpuint (json_object_get_size (body), ==, 10);

  capture_clear (&capture);
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
  Capture capture = { .reply_type = "application/json", .reply = answer_reply };
  g_autofree char *url = NULL;
  g_autoptr(SoupServer) server = start_capture_server (&capture, &url);
  static const char schema[] =
    "{\"type\":\"object\",\"required\":[\"sentiment\"],\"properties\":{\"sentiment\":{\"type\":\"string\"}}}";
  g_autofree char *target = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceProvider) provider = NULL;
  g_autoptr(SluiceProvider) streaming = NULL;
  g_autoptr(SluiceContext) context = new_context ("user", "How was it?", NULL);
  g_autoptr(JsonObject) body = NULL;
  g_autofree char *tools = NULL;
  SluiceResponse *r;

  target = g_strdup_printf ("{\"provider\": \"anthropic\", \"model\": \"claude-x\", \"base_url\": \"%s\","
                            " \"api_key\": \"" TEST_KEY "\", \"output_schema\": %s,"
                            " \"tools\": [{\"name\": \"lookup\"}], \"tool_choice\": {\"type\": \"any\"}}",
                            url, schema);
  provider = make_provider (target, &error);
  g_assert_no_error (error);

  r = send_context (provider, context);
  g_assert_null (sluice_response_get_error (r));
  g_assert_cmpstr (sluice_response_get_text (r), ==, "{\"sentiment\":\"positive\",\"confidence\":0.9}");
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "stop");
  g_assert_null (sluice_response_get_tool_calls (r));
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 40);
  g_object_unref (r);

  body = captured_body (&capture);
  tools = g_strdup_printf ("[{\"name\":\"answer\",\"description\":\"Give the answer in this shape\","
                           "\"input_schema\":%s}]", schema);
  /* The target's own tools give way to the answer tool. */
  assert_json (json_object_get_member (body, "tools"), tools);
  assert_json (json_object_get_member (body, "tool_choice"), "{\"type\":\"tool\",\"name\":\"answer\"}");

  /* Streamed: the answer is the concatenated input_json_delta fragments. */
  g_clear_pointer (&body, json_object_unref);
  g_free (target);
  target = g_strdup_printf ("{\"provider\": \"anthropic\", \"model\": \"claude-x\", \"base_url\": \"%s\","
                            " \"api_key\": \"" TEST_KEY "\", \"stream\": true, \"output_schema\": %s}",
                            url, schema);
  streaming = make_provider (target, &error);
  g_assert_no_error (error);
  capture.reply_type = "text/event-stream";
  capture.reply = answer_stream_reply;
  r = send_context (streaming, context);
  g_assert_null (sluice_response_get_error (r));
  g_assert_true (sluice_response_get_streamed (r));
  g_assert_cmpstr (sluice_response_get_text (r), ==, "{\"sentiment\": \"negative\"}");
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "stop");
  g_assert_null (sluice_response_get_tool_calls (r));
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 8);
  g_object_unref (r);

  body = captured_body (&capture);
  g_assert_true (json_object_get_boolean_member (body, "stream"));
  g_assert_true (json_object_has_member (body, "tool_choice"));
  sluice_test_assert_contains (soup_message_headers_get_one (capture.headers, "Accept"), "text/event-stream");
  capture_clear (&capture);
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
  g_autoptr(SluiceProvider) provider = make_provider (
    "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"base_url\": \"http://127.0.0.1:9\"}", NULL);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(SluiceContext) context = new_context (cases[i].role1, cases[i].text1,
                                                      cases[i].role2, cases[i].text2, NULL);
      g_autoptr(SluiceResponse) r = send_context (provider, context);

      assert_failed (r, SLUICE_ERROR_BAD_REQUEST, 0);
      g_assert_cmpstr (sluice_response_get_error (r)->message, ==, cases[i].message);
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
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(SluiceProvider) provider = make_provider (cases[i].target, &error);

      g_assert_null (provider);
      g_assert_error (error, SLUICE_ERROR, (gint) cases[i].code);
      g_assert_cmpstr (error->message, ==, cases[i].message);
      g_assert_null (strstr (error->message, TEST_KEY));
    }
}

/* ---- the key never shows -------------------------------------------------------------------- */

static void
test_secret_is_scrubbed (void)
{
  g_autoptr(JsonObject) rules = json_object_new ();
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

  json_object_set_member (rules, "<echo-401>", status_step (401,
    "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"invalid x-api-key: "
    TEST_KEY "\"}}", NULL, NULL));
  json_object_set_member (rules, "<echo-200>", status_step (200,
    "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"key " TEST_KEY " failed\"}}", NULL, NULL));
  json_object_set_member (rules, "<echo-html>", status_step (200, "<html>x-api-key=" TEST_KEY "</html>",
                                                            "text/html", NULL));
  json_object_set_member (rules, "<echo-stream-error>", status_step (200,
    "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"permission_error\",\"message\":\"the key "
    TEST_KEY " may not\"}}\n\n", "text/event-stream", NULL));
  json_object_set_member (rules, "<echo-stream-garbage>", status_step (200,
    "event: message_start\ndata: not json " TEST_KEY "\n\n", "text/event-stream", NULL));
  url = start_mock (rules);
  plain = mock_provider (url, FALSE);
  streaming = mock_provider (url, TRUE);

  sluice_test_clear_logs ();
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(SluiceResponse) r = send_text (cases[i].stream ? streaming : plain, cases[i].marker);
      const char *message = sluice_response_get_error (r)->message;

      g_test_message ("%s: %s", cases[i].marker, message);
      g_assert_error ((GError *) sluice_response_get_error (r), SLUICE_ERROR, (gint) cases[i].code);
      sluice_test_assert_contains (message, "[redacted]");
      g_assert_null (strstr (message, TEST_KEY));
      g_assert_null (strstr (message, "Q4r8"));
    }
  g_assert_null (strstr (sluice_test_get_logs (), TEST_KEY));
  sluice_test_mock_stop ();
}

int
main (int   argc,
      char *argv[])
{
  const char *shared = g_getenv ("SLUICE_SHARED_TESTDATA");
  int status;

  g_test_init (&argc, &argv, NULL);

  samples_dir = g_build_filename (shared != NULL ? shared : "../shared/testdata",
                                  "provider-samples", "anthropic", NULL);
  if (!g_file_test (samples_dir, G_FILE_TEST_IS_DIR))
    {
      g_print ("1..0 # SKIP the recorded provider samples are not there (%s); "
               "set SLUICE_SHARED_TESTDATA to the shared testdata folder\n", samples_dir);
      g_free (samples_dir);
      return 77;
    }

  sluice_test_capture_logs ();
  engine = sluice_engine_new ();

  g_test_add_func ("/anthropic/samples", test_samples);
  g_test_add_func ("/anthropic/mock-answers", test_mock_answers);
  g_test_add_func ("/anthropic/cache-usage", test_cache_usage);
  g_test_add_func ("/anthropic/error-classification", test_error_classification);
  g_test_add_func ("/anthropic/refusal", test_refusal);
  g_test_add_func ("/anthropic/broken-streams", test_broken_streams);
  g_test_add_func ("/anthropic/request-shape", test_request_shape);
  g_test_add_func ("/anthropic/structured-output", test_structured_output);
  g_test_add_func ("/anthropic/messages-refused", test_messages_refused);
  g_test_add_func ("/anthropic/configuration", test_configuration);
  g_test_add_func ("/anthropic/secret-is-scrubbed", test_secret_is_scrubbed);

  status = g_test_run ();

  sluice_test_mock_stop ();
  g_object_unref (engine);
  sluice_test_stop_capturing_logs ();
  g_free (samples_dir);
  return status;
}
