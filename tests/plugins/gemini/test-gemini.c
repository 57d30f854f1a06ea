/* test-gemini.c — the gemini provider on the wire: every recorded sample
 * (answers, errors, streams) mapped to its exact normalized value, error
 * classification, content filtering, stream failures, the request's
 * shape, configuration, and that the key never shows.
 *
 * The recorded bodies are read at run time from the shared test data
 * ($SLUICE_SHARED_TESTDATA/provider-samples/gemini); without them the whole
 * test is skipped (exit status 77). The real mock (tools/sluice-mock)
 * serves them with scenario "status" steps matched by a marker in the
 * request; a local server, which answers the same way, keeps the request
 * for the tests of its shape and serves the hand-made bodies.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-provider.h"

#include <string.h>

#define TEST_KEY "AIzaSyD-sluice-test-Q7v3Km9Xw2Lp"
#define SSE "text/event-stream"
#define JSON "application/json; charset=UTF-8"

static SluiceEngine *engine;

/* ---- a server that answers by marker ------------------------------------------------ */

typedef struct
{
  char   *marker;
  guint   status;
  char   *content_type;
  char   *body;
  char   *header_name;
  char   *header_value;
} Rule;

typedef struct
{
  SoupServer         *soup;
  char               *url;      /* the base_url: http://127.0.0.1:PORT/v1beta */
  GPtrArray          *rules;
  SluiceTestCapture   last;     /* the last request */
} Server;

static Server server;

static void
rule_free (Rule *rule)
{
  g_free (rule->marker);
  g_free (rule->content_type);
  g_free (rule->body);
  g_free (rule->header_name);
  g_free (rule->header_value);
  g_free (rule);
}

static void
handle_request (SoupServer        *soup,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  sluice_test_capture_record (&server.last, msg);
  for (guint i = 0; i < server.rules->len; i++)
    {
      Rule *rule = g_ptr_array_index (server.rules, i);

      if (strstr (server.last.body, rule->marker) == NULL)
        continue;
      soup_server_message_set_status (msg, rule->status, NULL);
      if (rule->header_name != NULL)
        soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                      rule->header_name, rule->header_value);
      soup_server_message_set_response (msg, rule->content_type, SOUP_MEMORY_COPY,
                                        rule->body, strlen (rule->body));
      return;
    }
  soup_server_message_set_status (msg, 418, NULL);
}

static void
server_start (void)
{
  server.rules = g_ptr_array_new_with_free_func ((GDestroyNotify) rule_free);
  server.soup = sluice_test_server_new (handle_request, NULL, "/v1beta", &server.url);
}

static void
server_stop (void)
{
  g_clear_object (&server.soup);
  g_clear_pointer (&server.url, g_free);
  g_clear_pointer (&server.rules, g_ptr_array_unref);
  sluice_test_capture_clear (&server.last);
}

/* Answers requests whose body holds @marker with @status and @body. */
static void
serve (const char *marker,
       guint       status,
       const char *content_type,
       const char *body)
{
  Rule *rule = g_new0 (Rule, 1);

  rule->marker = g_strdup (marker);
  rule->status = status;
  rule->content_type = g_strdup (content_type);
  rule->body = g_strdup (body);
  g_ptr_array_add (server.rules, rule);
}

static void
serve_with_header (const char *marker,
                   guint       status,
                   const char *body,
                   const char *header_name,
                   const char *header_value)
{
  serve (marker, status, JSON, body);
  ((Rule *) g_ptr_array_index (server.rules, server.rules->len - 1))->header_name = g_strdup (header_name);
  ((Rule *) g_ptr_array_index (server.rules, server.rules->len - 1))->header_value = g_strdup (header_value);
}

/* ---- the real mock ------------------------------------------------------------------------ */

/* Starts tools/sluice-mock with @rules, wanting @require_key (NULL: any);
 * returns the base_url of its Gemini API. */
static char *
start_mock (JsonArray  *rules,
            const char *require_key)
{
  g_autofree char *url = sluice_test_mock_start_rules (rules, require_key);

  return g_strconcat (url, "/v1beta", NULL);
}

/* ---- the provider ----------------------------------------------------------------------- */

/* The recorder kept one chunk per line: rebuild the SSE body as Gemini sends it. */
static char *
rebuild_stream (const char *jsonl)
{
  g_auto(GStrv) lines = g_strsplit (jsonl, "\n", -1);
  GString *body = g_string_new (NULL);

  for (guint i = 0; lines[i] != NULL; i++)
    if (*g_strstrip (lines[i]) != '\0')
      g_string_append_printf (body, "data: %s\r\n\r\n", lines[i]);
  return g_string_free (body, FALSE);
}

/* A provider aimed at @base_url with the test key; @extra holds more
 * target members, each starting with a comma. */
static SluiceProvider *
provider_at (const char *base_url,
             gboolean    stream,
             const char *extra)
{
  return sluice_test_provider_new (engine, "gemini",
                                   "{\"provider\": \"gemini\", \"model\": \"gemini-2.0-flash\","
                                   " \"base_url\": \"%s\", \"api_key\": \"" TEST_KEY "\", \"stream\": %s%s}",
                                   base_url, stream ? "true" : "false", extra != NULL ? extra : "");
}

static SluiceProvider *
provider_for (gboolean    stream,
              const char *extra)
{
  return provider_at (server.url, stream, extra);
}

/* A failure, whose message never shows the key. */
static void
assert_failed (SluiceResponse  *response,
               SluiceErrorCode  code,
               guint            http_status,
               const char      *message)
{
  sluice_test_assert_failed (response, code, http_status, message);
  g_assert_null (strstr (sluice_response_get_error (response)->message, TEST_KEY));
}

static void
assert_tool_call (SluiceResponse *response,
                  guint           index,
                  const char     *name,
                  const char     *arguments)
{
  JsonArray *calls = sluice_response_get_tool_calls (response);
  JsonObject *call;

  g_assert_nonnull (calls);
  g_assert_cmpuint (index, <, json_array_get_length (calls));
  call = json_array_get_object_element (calls, index);
  g_assert_cmpstr (sluice_json_get_string (call, "name"), ==, name);
  g_assert_cmpstr (sluice_json_get_string (call, "arguments"), ==, arguments);
}

/* ---- every recorded sample ------------------------------------------------------------- */

typedef struct
{
  const char *name;
  const char *arguments;
} ExpectedCall;

typedef struct
{
  const char      *file;
  guint            status;         /* served with */
  SluiceErrorCode  code;           /* 0 for an answer */
  gboolean         retryable;
  gint64           retry_after_ms;
  const char      *message;        /* the whole error message */
  const char      *text;
  const char      *finish_reason;
  ExpectedCall     calls[3];
  gboolean         estimated;      /* no usageMetadata: the base class estimates */
  gint64           prompt, completion, reasoning, cached;
  const char      *model;
  const char      *request_id;
} Sample;

static const char json_mode_text[] =
  "[\n  {\n    \"name\": \"Fuji Dawn\",\n    \"colors\": [\n      \"#FEE4C4\",\n      \"#FCDEC0\",\n"
  "      \"#FBC7BB\",\n      \"#F2A194\",\n      \"#ED8571\"\n    ]\n  },\n  {\n    \"name\": \"Hawaiian Sunset\",\n"
  "    \"colors\": [\n      \"#F25C54\",\n      \"#F24545\",\n      \"#F22E35\",\n      \"#C92127\",\n"
  "      \"#96141A\"\n    ]\n  },\n  {\n    \"name\": \"Jakarta Noon\",\n    \"colors\": [\n      \"#037F8C\",\n"
  "      \"#026773\",\n      \"#014F59\",\n      \"#F2C777\",\n      \"#F2A857\"\n    ]\n  }\n]\n\n";

static const char utf8_text[] =
  "秋风瑟瑟，叶落纷纷，\n西风残照，寒霜渐浓。\n枫叶红了，菊花黄了，\n秋雨绵绵，秋意浓浓。\n\n"
  "秋夜漫漫，思绪万千，\n明月当空，星星眨眼。\n思念远方的亲人，\n祝愿他们幸福安康。\n\n"
  "秋天是收获的季节，\n人们忙着收割庄稼，\n为一年的辛劳画上圆满的句号。\n秋天也是团圆的季节，\n"
  "一家人围坐在一起，\n分享丰收的喜悦，共度美好时光。\n\n秋天是一个美丽的季节，\n它有着独特的韵味，\n"
  "让人沉醉其中，流连忘返。\n让我们一起欣赏秋天的美景，\n感受秋天的气息，领悟秋天的哲理。";

static const Sample samples[] = {
  { .file = "generateContent_text.json", .status = 200,
    .text = "Google's headquarters, also known as the Googleplex, is located in **Mountain View, California**.\n",
    .finish_reason = "stop", .prompt = 7, .completion = 22, .model = "gemini-2.0-flash" },
  /* No usageMetadata; three calls: the first one's arguments are the text. */
  { .file = "generateContent_parallel_function_calls.json", .status = 200,
    .text = "{\"y\":1,\"x\":2}", .finish_reason = "tool_call",
    .calls = { { "sum", "{\"y\":1,\"x\":2}" }, { "sum", "{\"y\":3,\"x\":4}" }, { "sum", "{\"y\":5,\"x\":6}" } },
    .estimated = TRUE, .model = "gemini-2.0-flash" },
  { .file = "generateContent_json_mode.json", .status = 200,
    .text = json_mode_text, .finish_reason = "stop", .estimated = TRUE, .model = "gemini-2.0-flash" },
  /* Thoughts (893 tokens) are billed output; a STOP with a call is a tool call. */
  { .file = "generateContent_function_call_gemini-3.json", .status = 200,
    .text = "{\"location\":\"San Francisco\"}", .finish_reason = "tool_call",
    .calls = { { "weather", "{\"location\":\"San Francisco\"}" } },
    .prompt = 29, .completion = 15 + 893, .reasoning = 893,
    .model = "gemini-3-pro-preview", .request_id = "m36LaZGyCLz1xs0PtNSB-QU" },
  /* A bad key is a 400 INVALID_ARGUMENT whose ErrorInfo says API_KEY_INVALID. */
  { .file = "error_400_api_key_invalid.json", .status = 400, .code = SLUICE_ERROR_AUTH, .retry_after_ms = -1,
    .message = "HTTP 400: API key not valid. Please pass a valid API key." },
  { .file = "error_404_model_not_found.json", .status = 404, .code = SLUICE_ERROR_NOT_FOUND, .retry_after_ms = -1,
    .message = "HTTP 404: models/gemini-5.0-flash is not found for API version v1, or is not supported for "
               "generateContent. Call ListModels to see the list of available models and their supported methods." },
  { .file = "error_429_resource_exhausted.json", .status = 429, .code = SLUICE_ERROR_RATE_LIMITED,
    .retryable = TRUE, .retry_after_ms = 34400,
    .message = "HTTP 429: You exceeded your current quota, please check your plan." },
  /* Usage on every chunk: the last one's counts win. */
  { .file = "streamGenerateContent_text.sse", .status = 200,
    .text = "The capital of Wyoming is **Cheyenne**.\n", .finish_reason = "stop",
    .prompt = 7, .completion = 10, .model = "gemini-2.0-flash" },
  /* finishReason STOP on every chunk: reading goes on to the end. */
  { .file = "streamGenerateContent_utf8.sse", .status = 200,
    .text = utf8_text, .finish_reason = "stop", .estimated = TRUE, .model = "gemini-2.0-flash" },
  { .file = "streamGenerateContent_function_call.sse", .status = 200,
    .text = "{\"city\":\"San Jose\"}", .finish_reason = "tool_call",
    .calls = { { "getTemperature", "{\"city\":\"San Jose\"}" } }, .estimated = TRUE, .model = "gemini-2.0-flash" },
  /* Three thought summaries, left out of the text; their tokens counted. */
  { .file = "streamGenerateContent_thinking.sse", .status = 200,
    .text = "The sky is blue because tiny gas molecules in Earth's atmosphere scatter blue light from the sun "
            "more efficiently than other colors. Blue light has shorter, smaller wavelengths, causing it to be "
            "scattered in all directions, making the sky appear blue to our eyes.",
    .finish_reason = "stop", .prompt = 10, .completion = 48 + 540, .reasoning = 540,
    .model = "gemini-2.5-flash", .request_id = "0J-HaJetAqv0jrEPwu-tsQ0" },
  /* Only promptFeedback.blockReason, and no blank line at the end. */
  { .file = "streamGenerateContent_prompt_blocked.sse", .status = 200, .code = SLUICE_ERROR_CONTENT_FILTER,
    .retry_after_ms = -1,
    .message = "the stream from 127.0.0.1 failed after 1 events: "
               "the provider blocked the prompt (SAFETY: HARM_CATEGORY_HATE_SPEECH)" },
  /* The last chunk's text part is empty, with a thoughtSignature. */
  { .file = "streamGenerateContent_gemini-3.chunks.jsonl", .status = 200,
    .text = "There are **3** \"r\"s in strawberry.\n\nst**r**awbe**rr**y", .finish_reason = "stop",
    .prompt = 9, .completion = 23 + 185, .reasoning = 185,
    .model = "gemini-3-pro-preview", .request_id = "bH6LaZW8Fp_3nsEPqtaSwQ4" },
};

static void
check_sample (const Sample   *sample,
              SluiceResponse *r)
{
  gboolean streamed = !g_str_has_suffix (sample->file, ".json");
  guint n_calls = 0;

  g_test_message ("%s", sample->file);
  g_assert_cmpuint (sluice_response_get_http_status (r), ==, sample->status);
  if (sample->code != 0)
    {
      assert_failed (r, sample->code, sample->status, sample->message);
      g_assert_cmpint (sluice_error_code_is_retryable (sample->code), ==, sample->retryable);
      g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, sample->retry_after_ms);
      return;
    }

  g_assert_null (sluice_response_get_error (r));
  g_assert_cmpint (sluice_response_get_streamed (r), ==, streamed);
  if (streamed)
    g_assert_cmpint (sluice_response_get_ttft_us (r), >=, 0);
  g_assert_cmpstr (sluice_response_get_text (r), ==, sample->text);
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, sample->finish_reason);
  for (; n_calls < G_N_ELEMENTS (sample->calls) && sample->calls[n_calls].name != NULL; n_calls++)
    assert_tool_call (r, n_calls, sample->calls[n_calls].name, sample->calls[n_calls].arguments);
  if (n_calls == 0)
    g_assert_null (sluice_response_get_tool_calls (r));
  else
    g_assert_cmpuint (json_array_get_length (sluice_response_get_tool_calls (r)), ==, n_calls);
  g_assert_cmpstr (sluice_response_get_model (r), ==, sample->model);
  g_assert_cmpstr (sluice_response_get_request_id (r), ==, sample->request_id);
  g_assert_cmpint (sluice_response_get_usage_estimated (r), ==, sample->estimated);
  if (sample->estimated)
    {
      g_assert_cmpint (sluice_response_get_prompt_tokens (r), >, 0);
      g_assert_cmpint (sluice_response_get_completion_tokens (r), >, 0);
    }
  else
    {
      g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, sample->prompt);
      g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, sample->completion);
    }
  g_assert_cmpint (sluice_response_get_reasoning_tokens (r), ==, sample->reasoning);
  g_assert_cmpint (sluice_response_get_cached_tokens (r), ==, sample->cached);
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, -1);
}

/* Served by the real mock, streams in pieces of 7 bytes. */
static void
test_samples (void)
{
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autoptr(SluiceProvider) unary = NULL;
  g_autoptr(SluiceProvider) streaming = NULL;
  g_autofree char *url = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (samples); i++)
    {
      const char *file = samples[i].file;
      g_autofree char *contents = sluice_test_read_sample (file);
      g_autofree char *body = g_str_has_suffix (file, ".jsonl") ? rebuild_stream (contents) : g_strdup (contents);
      g_autofree char *marker = g_strdup_printf ("<%s>", file);
      gboolean streamed = !g_str_has_suffix (file, ".json");
      JsonNode *step = sluice_test_status_step (samples[i].status, body, streamed ? SSE : JSON, NULL);

      if (streamed)
        json_object_set_int_member (json_node_get_object (step), "chunk_bytes", 7);
      sluice_test_add_rule (rules, marker, step);
    }
  url = start_mock (rules, NULL);
  unary = provider_at (url, FALSE, NULL);
  streaming = provider_at (url, TRUE, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (samples); i++)
    {
      g_autofree char *marker = g_strdup_printf ("<%s>", samples[i].file);
      SluiceProvider *provider = g_str_has_suffix (samples[i].file, ".json") ? unary : streaming;
      g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, marker);

      check_sample (&samples[i], r);
    }
  sluice_test_mock_stop ();
}

/* The mock's own Gemini answers and faults. */
static void
test_mock (void)
{
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autoptr(JsonObject) rate = json_object_new ();
  g_autoptr(SluiceProvider) unary = NULL;
  g_autoptr(SluiceProvider) streaming = NULL;
  g_autoptr(SluiceProvider) wrong = NULL;
  g_autofree char *url = NULL;
  SluiceResponse *r;

  json_object_set_string_member (rate, "kind", "rate_limit");
  json_object_set_int_member (rate, "retry_after_ms", 250);
  sluice_test_add_rule (rules, "<rate>", json_node_init_object (json_node_alloc (), rate));
  sluice_test_add_rule (rules, "<overloaded>", json_node_init_string (json_node_alloc (), "overloaded"));
  sluice_test_add_rule (rules, "<cut>", json_node_init_string (json_node_alloc (), "cut"));
  sluice_test_add_rule (rules, "<malformed-chunk>", json_node_init_string (json_node_alloc (), "malformed_chunk"));
  url = start_mock (rules, TEST_KEY);
  unary = provider_at (url, FALSE, NULL);
  streaming = provider_at (url, TRUE, NULL);
  wrong = sluice_test_provider_new (engine, "gemini",
                                    "{\"model\": \"gemini-2.0-flash\", \"base_url\": \"%s\", \"api_key\": \"AIzaWrong\"}",
                                    url);

  for (guint streamed = 0; streamed <= 1; streamed++)
    {
      SluiceProvider *provider = streamed ? streaming : unary;

      g_test_message ("streamed: %u", streamed);
      r = sluice_test_send_text (provider, "The service was great");
      g_assert_null (sluice_response_get_error (r));
      sluice_test_assert_contains (sluice_response_get_text (r), "\"sentiment\"");
      g_assert_cmpint (sluice_response_get_streamed (r), ==, streamed);
      g_assert_cmpint (sluice_response_get_prompt_tokens (r), >, 0);
      g_assert_false (sluice_response_get_usage_estimated (r));
      g_object_unref (r);

      r = sluice_test_send_text (provider, "<rate>");
      assert_failed (r, SLUICE_ERROR_RATE_LIMITED, 429, NULL);
      g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, 250);
      g_object_unref (r);

      r = sluice_test_send_text (provider, "<overloaded>");
      assert_failed (r, SLUICE_ERROR_OVERLOADED, 503, NULL);
      g_object_unref (r);
    }

  r = sluice_test_send_text (wrong, "The service was great");
  assert_failed (r, SLUICE_ERROR_AUTH, 401, NULL);
  g_object_unref (r);

  r = sluice_test_send_text (streaming, "<cut>");
  assert_failed (r, SLUICE_ERROR_TRUNCATED, 200, NULL);
  g_object_unref (r);

  r = sluice_test_send_text (streaming, "<malformed-chunk>");
  assert_failed (r, SLUICE_ERROR_MALFORMED, 200, NULL);
  g_object_unref (r);

  sluice_test_mock_stop ();
}

/* Every file of the folder has its row: a new sample cannot go untested. */
static void
test_samples_all_covered (void)
{
  guint n_files = sluice_test_assert_samples_listed (samples, G_N_ELEMENTS (samples), sizeof samples[0], "");

  g_assert_cmpuint (n_files, ==, G_N_ELEMENTS (samples));
  g_assert_cmpuint (n_files, ==, 13);
}

/* ---- errors -------------------------------------------------------------------------------- */

#define GOOGLE_ERROR(code, status, message, details) \
  "{\"error\": {\"code\": " #code ", \"message\": \"" message "\", \"status\": \"" status "\"" details "}}"
#define RETRY_INFO(delay) \
  ", \"details\": [{\"@type\": \"type.googleapis.com/google.rpc.RetryInfo\", \"retryDelay\": \"" delay "\"}]"

static void
test_error_classification (void)
{
  static const struct { const char *marker; guint status; const char *body; SluiceErrorCode code; gint64 retry_after_ms; } cases[] = {
    { "<exhausted>", 429, GOOGLE_ERROR (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).", ""),
      SLUICE_ERROR_RATE_LIMITED, -1 },
    /* What every quota 429 says, per-minute limits included: still a rate limit. */
    { "<per-minute>", 429, GOOGLE_ERROR (429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your "
                                          "plan and billing details. Please retry in 20.04466179s.", RETRY_INFO ("20.04466179s")),
      SLUICE_ERROR_RATE_LIMITED, 20045 },
    { "<free-tier-day>", 429, GOOGLE_ERROR (429, "RESOURCE_EXHAUSTED", "Quota exceeded for metric: generate_content_free_tier_requests, "
                                            "limit: 250. The free tier quota is exhausted for the day.", RETRY_INFO ("1.5s")),
      SLUICE_ERROR_RATE_LIMITED, 1500 },
    /* A billing problem with no delay to wait out: waiting does not help. */
    { "<credits>", 429, GOOGLE_ERROR (429, "RESOURCE_EXHAUSTED", "Your prepayment credits are depleted. Please go to AI "
                                      "Studio to manage your project and billing.", ""),
      SLUICE_ERROR_BUDGET_EXCEEDED, -1 },
    { "<unavailable>", 503, GOOGLE_ERROR (503, "UNAVAILABLE", "The model is overloaded. Please try again later.", ""),
      SLUICE_ERROR_OVERLOADED, -1 },
    { "<internal>", 500, GOOGLE_ERROR (500, "INTERNAL", "An internal error has occurred.", ""), SLUICE_ERROR_SERVER, -1 },
    { "<deadline>", 504, GOOGLE_ERROR (504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete.", ""),
      SLUICE_ERROR_TIMEOUT, -1 },
    { "<overflow>", 400, GOOGLE_ERROR (400, "INVALID_ARGUMENT", "The input token count (1200000) exceeds the maximum "
                                       "number of tokens allowed (1048576).", ""),
      SLUICE_ERROR_CONTEXT_OVERFLOW, -1 },
    { "<invalid>", 400, GOOGLE_ERROR (400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unknown name \\\"foo\\\".", ""),
      SLUICE_ERROR_BAD_REQUEST, -1 },
    { "<precondition>", 400, GOOGLE_ERROR (400, "FAILED_PRECONDITION", "User location is not supported for the API use.", ""),
      SLUICE_ERROR_BAD_REQUEST, -1 },
    { "<denied>", 403, GOOGLE_ERROR (403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.", ""),
      SLUICE_ERROR_AUTH, -1 },
    { "<unauthenticated>", 401, GOOGLE_ERROR (401, "UNAUTHENTICATED", "Request had invalid authentication credentials.", ""),
      SLUICE_ERROR_AUTH, -1 },
    { "<not-found>", 404, GOOGLE_ERROR (404, "NOT_FOUND", "models/nope is not found.", ""), SLUICE_ERROR_NOT_FOUND, -1 },
    /* Some errors come wrapped in an array. */
    { "<array>", 503, "[" GOOGLE_ERROR (503, "UNAVAILABLE", "The model is overloaded.", RETRY_INFO ("30s")) "]",
      SLUICE_ERROR_OVERLOADED, 30000 },
    /* A delay too long to count is longer than anyone waits: a year; a
     * delay that is not one is no delay. */
    { "<forever>", 429, GOOGLE_ERROR (429, "RESOURCE_EXHAUSTED", "Slow down.", RETRY_INFO ("99999999999999999999s")),
      SLUICE_ERROR_RATE_LIMITED, G_GINT64_CONSTANT (365) * 24 * 3600 * 1000 },
    { "<not-a-delay>", 429, GOOGLE_ERROR (429, "RESOURCE_EXHAUSTED", "Slow down.", RETRY_INFO ("-5s")),
      SLUICE_ERROR_RATE_LIMITED, -1 },
    /* An unknown status: the HTTP status decides. */
    { "<unknown-status>", 409, GOOGLE_ERROR (409, "ABORTED", "The operation was aborted.", ""), SLUICE_ERROR_BAD_REQUEST, -1 },
  };
  g_autoptr(SluiceProvider) provider = NULL;

  server_start ();
  provider = provider_for (FALSE, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    serve (cases[i].marker, cases[i].status, JSON, cases[i].body);
  serve ("<html>", 502, "text/html", "<html><body>Bad Gateway</body></html>");
  serve_with_header ("<header-wins>", 429, GOOGLE_ERROR (429, "RESOURCE_EXHAUSTED", "Slow down.", RETRY_INFO ("30s")),
                     "Retry-After", "7");
  serve ("<error-200>", 200, JSON, GOOGLE_ERROR (500, "INTERNAL", "An internal error has occurred.", ""));

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, cases[i].marker);
      g_autofree char *prefix = g_strdup_printf ("HTTP %u: ", cases[i].status);

      g_test_message ("%s", cases[i].marker);
      assert_failed (r, cases[i].code, cases[i].status, NULL);
      g_assert_true (g_str_has_prefix (sluice_response_get_error (r)->message, prefix));
      g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, cases[i].retry_after_ms);
      g_assert_null (sluice_response_get_text (r));
    }
  {
    g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, "<overflow>");

    g_assert_cmpstr (sluice_response_get_error (r)->message, ==,
                     "HTTP 400: The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).");
  }
  {
    g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, "<html>");

    assert_failed (r, SLUICE_ERROR_SERVER, 502, "HTTP 502: an error from 127.0.0.1 (text/html)");
  }
  {
    g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, "<header-wins>");

    assert_failed (r, SLUICE_ERROR_RATE_LIMITED, 429, NULL);
    g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, 7000);
  }
  {
    /* A 200 that holds an error object: its own kind. */
    g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, "<error-200>");

    assert_failed (r, SLUICE_ERROR_SERVER, 200,
                   "provider returned an error (INTERNAL): An internal error has occurred.");
  }
  server_stop ();
}

/* ---- content filtering and other answers ------------------------------------------------ */

#define CANDIDATE(parts, finish, extra) \
  "{\"candidates\": [{\"content\": {\"parts\": [" parts "], \"role\": \"model\"}" finish extra "}]," \
  " \"usageMetadata\": {\"promptTokenCount\": 12, \"candidatesTokenCount\": 3, \"totalTokenCount\": 15}," \
  " \"modelVersion\": \"gemini-2.0-flash-001\", \"responseId\": \"resp-1\"}"
#define RATINGS \
  ", \"safetyRatings\": [{\"category\": \"HARM_CATEGORY_HARASSMENT\", \"probability\": \"NEGLIGIBLE\"}," \
  " {\"category\": \"HARM_CATEGORY_HATE_SPEECH\", \"probability\": \"HIGH\", \"blocked\": true}," \
  " {\"category\": \"HARM_CATEGORY_DANGEROUS_CONTENT\", \"probability\": \"MEDIUM\", \"blocked\": true}]"

static void
test_answers (void)
{
  g_autoptr(SluiceProvider) provider = NULL;
  SluiceResponse *r;

  server_start ();
  provider = provider_for (FALSE, NULL);
  serve ("<safety>", 200, JSON, CANDIDATE ("{\"text\": \"Partial\"}", ", \"finishReason\": \"SAFETY\"", RATINGS));
  serve ("<recitation>", 200, JSON, CANDIDATE ("", ", \"finishReason\": \"RECITATION\"", ""));
  serve ("<blocked>", 200, JSON,
         "{\"promptFeedback\": {\"blockReason\": \"PROHIBITED_CONTENT\"}, \"usageMetadata\": {\"promptTokenCount\": 8}}");
  serve ("<length>", 200, JSON, CANDIDATE ("{\"text\": \"Once upon\"}", ", \"finishReason\": \"MAX_TOKENS\"", ""));
  serve ("<thought-only>", 200, JSON, CANDIDATE ("{\"text\": \"thinking...\", \"thought\": true}", ", \"finishReason\": \"STOP\"", ""));
  serve ("<no-candidates>", 200, JSON, "{\"candidates\": [], \"usageMetadata\": {\"promptTokenCount\": 4}}");
  serve ("<not-object>", 200, JSON, "[1, 2, 3]");
  serve ("<call-id>", 200, JSON, CANDIDATE ("{\"text\": \"Looking it up.\"}, {\"functionCall\": {\"id\": \"call-7\","
                                            " \"name\": \"lookup\", \"args\": {\"q\": [1, 2.5, \"x\"]}}},"
                                            " {\"functionCall\": {\"name\": \"now\"}}", ", \"finishReason\": \"STOP\"", ""));
  serve ("<cached>", 200, JSON, "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"ok\"}]}, \"finishReason\": \"STOP\"}],"
                                " \"usageMetadata\": {\"promptTokenCount\": 1000, \"cachedContentTokenCount\": 800}}");

  /* The filter's reason and the categories it blocked or rated HIGH. */
  r = sluice_test_send_text (provider, "<safety>");
  assert_failed (r, SLUICE_ERROR_CONTENT_FILTER, 200, NULL);
  g_assert_false (sluice_error_code_is_retryable (SLUICE_ERROR_CONTENT_FILTER));
  g_assert_cmpstr (sluice_response_get_error (r)->message, ==,
                   "the provider's content filter stopped the answer "
                   "(SAFETY: HARM_CATEGORY_HATE_SPEECH, HARM_CATEGORY_DANGEROUS_CONTENT)");
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "content_filter");
  g_assert_cmpstr (sluice_response_get_text (r), ==, "Partial");
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 12);
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 3);
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<recitation>");
  assert_failed (r, SLUICE_ERROR_CONTENT_FILTER, 200, "the provider's content filter stopped the answer (RECITATION)");
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<blocked>");
  assert_failed (r, SLUICE_ERROR_CONTENT_FILTER, 200, "the provider blocked the prompt (PROHIBITED_CONTENT)");
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 8);
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<length>");
  g_assert_null (sluice_response_get_error (r));
  g_assert_cmpstr (sluice_response_get_text (r), ==, "Once upon");
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "length");
  g_assert_cmpstr (sluice_response_get_model (r), ==, "gemini-2.0-flash-001");
  g_assert_cmpstr (sluice_response_get_request_id (r), ==, "resp-1");
  g_object_unref (r);

  /* Thoughts alone are no answer. */
  r = sluice_test_send_text (provider, "<thought-only>");
  assert_failed (r, SLUICE_ERROR_MALFORMED, 200, NULL);
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<no-candidates>");
  assert_failed (r, SLUICE_ERROR_MALFORMED, 200, "provider returned no candidates");
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<not-object>");
  assert_failed (r, SLUICE_ERROR_MALFORMED, 200, NULL);
  g_object_unref (r);

  /* Text beside calls stays the answer; ids are kept; no args is {}. */
  r = sluice_test_send_text (provider, "<call-id>");
  g_assert_null (sluice_response_get_error (r));
  g_assert_cmpstr (sluice_response_get_text (r), ==, "Looking it up.");
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "tool_call");
  assert_tool_call (r, 0, "lookup", "{\"q\":[1,2.5,\"x\"]}");
  g_assert_cmpstr (sluice_json_get_string (json_array_get_object_element (sluice_response_get_tool_calls (r), 0), "id"),
                   ==, "call-7");
  assert_tool_call (r, 1, "now", "{}");
  g_object_unref (r);

  /* Members missing from usageMetadata count 0. */
  r = sluice_test_send_text (provider, "<cached>");
  g_assert_null (sluice_response_get_error (r));
  g_assert_false (sluice_response_get_usage_estimated (r));
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 1000);
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 0);
  g_assert_cmpint (sluice_response_get_cached_tokens (r), ==, 800);
  g_object_unref (r);

  server_stop ();
}

/* ---- streams that go wrong --------------------------------------------------------------- */

#define CHUNK(text) \
  "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"" text "\"}], \"role\": \"model\"}}]}\r\n\r\n"
#define CALL_CHUNK(name, args, finish) \
  "data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"" name "\", \"args\": " args "}}]," \
  " \"role\": \"model\"}" finish "}]}\r\n\r\n"

static void
test_stream_failures (void)
{
  g_autoptr(SluiceProvider) provider = NULL;
  g_autofree char *sample = sluice_test_read_sample ("streamGenerateContent_text.sse");
  g_autofree char *cut = NULL;
  const char *third;
  SluiceResponse *r;

  server_start ();
  provider = provider_for (TRUE, NULL);
  /* The recorded stream, cut before the chunk with the finishReason. */
  third = strstr (strstr (strstr (sample, "data: ") + 1, "data: ") + 1, "data: ");
  g_assert_nonnull (third);
  cut = g_strndup (sample, (gsize) (third - sample));
  serve ("<cut>", 200, SSE, cut);
  serve ("<not-json>", 200, SSE, CHUNK ("Hello") "data: <html>upstream reset</html>\r\n\r\n");
  serve ("<error-chunk>", 200, SSE,
         CHUNK ("Hel") "data: " GOOGLE_ERROR (500, "INTERNAL", "An internal error has occurred.", "") "\r\n\r\n");
  /* A bare error object after the events, pretty-printed, not a data line. */
  serve ("<stray-error>", 200, SSE,
         CHUNK ("Hel") "{\n  \"error\": {\n    \"code\": 503,\n    \"message\": \"The model is overloaded.\",\n"
         "    \"status\": \"UNAVAILABLE\"\n  }\n}\n");
  serve ("<stray-noise>", 200, SSE, CHUNK ("Hel") "upstream went away\n");
  serve ("<safety>", 200, SSE, CHUNK ("Part") "data: {\"candidates\": [{\"finishReason\": \"SAFETY\"" RATINGS "}]}\r\n\r\n");
  serve ("<calls>", 200, SSE, CHUNK ("Checking.") CALL_CHUNK ("first", "{\"a\": 1}", "")
                              CALL_CHUNK ("second", "{\"b\": 2}", ", \"finishReason\": \"STOP\""));
  serve ("<error-status>", 429, JSON, GOOGLE_ERROR (429, "RESOURCE_EXHAUSTED", "Slow down.", RETRY_INFO ("2s")));

  r = sluice_test_send_text (provider, "<cut>");
  assert_failed (r, SLUICE_ERROR_TRUNCATED, 200, NULL);
  g_assert_true (sluice_error_code_is_retryable (SLUICE_ERROR_TRUNCATED));
  sluice_test_assert_contains (sluice_response_get_error (r)->message, "ended after 2 events");
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<not-json>");
  assert_failed (r, SLUICE_ERROR_MALFORMED, 200, NULL);
  g_assert_true (sluice_error_code_is_retryable (SLUICE_ERROR_MALFORMED));
  g_assert_cmpstr (sluice_response_get_error (r)->message, ==,
                   "the stream from 127.0.0.1 failed after 2 events: "
                   "a chunk that is not a JSON object: \"<html>upstream reset</html>\"");
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<error-chunk>");
  assert_failed (r, SLUICE_ERROR_SERVER, 200, NULL);
  sluice_test_assert_contains (sluice_response_get_error (r)->message,
                               "provider returned an error (INTERNAL): An internal error has occurred.");
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<stray-error>");
  assert_failed (r, SLUICE_ERROR_OVERLOADED, 200, NULL);
  sluice_test_assert_contains (sluice_response_get_error (r)->message,
                               "provider returned an error (UNAVAILABLE): The model is overloaded.");
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<stray-noise>");
  assert_failed (r, SLUICE_ERROR_TRUNCATED, 200, NULL);
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<safety>");
  assert_failed (r, SLUICE_ERROR_CONTENT_FILTER, 200, NULL);
  sluice_test_assert_contains (sluice_response_get_error (r)->message,
                               "the provider's content filter stopped the answer "
                               "(SAFETY: HARM_CATEGORY_HATE_SPEECH, HARM_CATEGORY_DANGEROUS_CONTENT)");
  g_object_unref (r);

  /* Calls in separate chunks are separate calls. */
  r = sluice_test_send_text (provider, "<calls>");
  g_assert_null (sluice_response_get_error (r));
  g_assert_cmpstr (sluice_response_get_text (r), ==, "Checking.");
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "tool_call");
  g_assert_cmpuint (json_array_get_length (sluice_response_get_tool_calls (r)), ==, 2);
  assert_tool_call (r, 0, "first", "{\"a\":1}");
  assert_tool_call (r, 1, "second", "{\"b\":2}");
  g_object_unref (r);

  /* An error status answers a stream with a JSON body. */
  r = sluice_test_send_text (provider, "<error-status>");
  assert_failed (r, SLUICE_ERROR_RATE_LIMITED, 429, NULL);
  g_assert_cmpint (sluice_response_get_retry_after_ms (r), ==, 2000);
  g_assert_false (sluice_response_get_streamed (r));
  g_object_unref (r);

  server_stop ();
}

/* An error object without a status name where an answer was expected (a
 * 200 body, a stream chunk): the HTTP code it carries decides, and without
 * one it is still an error the server reported, a server error, not a
 * malformed answer. */
static void
test_error_without_status (void)
{
  static const struct { const char *marker; gboolean stream; const char *error; SluiceErrorCode code; } cases[] = {
    { "<code-500>", FALSE, "{\"code\": 500, \"message\": \"boom\"}", SLUICE_ERROR_SERVER },
    { "<no-code>", FALSE, "{\"message\": \"boom\"}", SLUICE_ERROR_SERVER },
    { "<code-503>", FALSE, "{\"code\": 503, \"message\": \"boom\"}", SLUICE_ERROR_OVERLOADED },
    { "<chunk-no-code>", TRUE, "{\"message\": \"boom\"}", SLUICE_ERROR_SERVER },
  };
  g_autoptr(SluiceProvider) provider = NULL;
  g_autoptr(SluiceProvider) streaming = NULL;

  server_start ();
  provider = provider_for (FALSE, NULL);
  streaming = provider_for (TRUE, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *body = cases[i].stream
        ? g_strdup_printf (CHUNK ("Hel") "data: {\"error\": %s}\r\n\r\n", cases[i].error)
        : g_strdup_printf ("{\"error\": %s}", cases[i].error);

      serve (cases[i].marker, 200, cases[i].stream ? SSE : JSON, body);
    }

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(SluiceResponse) r = sluice_test_send_text (cases[i].stream ? streaming : provider, cases[i].marker);

      g_test_message ("%s", cases[i].marker);
      assert_failed (r, cases[i].code, 200, NULL);
      g_assert_true (sluice_error_code_is_retryable (cases[i].code));
      sluice_test_assert_contains (sluice_response_get_error (r)->message, "provider returned an error (no status): boom");
      g_assert_null (sluice_response_get_text (r));
    }
  server_stop ();
}

/* ---- the request ----------------------------------------------------------------------------- */

#define SCHEMA "{\"type\": \"object\", \"required\": [\"sentiment\"], \"additionalProperties\": false," \
               " \"properties\": {\"sentiment\": {\"enum\": [\"positive\", \"negative\"]}}}"
#define SAFETY "[{\"category\": \"HARM_CATEGORY_HARASSMENT\", \"threshold\": \"BLOCK_ONLY_HIGH\"}]"
#define TOOLS "[{\"functionDeclarations\": [{\"name\": \"lookup\", \"parameters\": {\"type\": \"object\"}}]}]"
#define TOOL_CONFIG "{\"functionCallingConfig\": {\"mode\": \"AUTO\"}}"

static void
test_request_shape (void)
{
  g_autofree char *text = sluice_test_read_sample ("generateContent_text.json");
  g_autofree char *stream_text = sluice_test_read_sample ("streamGenerateContent_text.sse");
  g_autoptr(SluiceProvider) provider = NULL;
  g_autoptr(SluiceProvider) streaming = NULL;
  g_autoptr(SluiceContext) context = sluice_test_context_new ("system", "Be brief.", "user", "first", "user", "second",
                                                              "assistant", "an answer", "system", "Answer in JSON.",
                                                              "user", "<shape>", NULL);
  g_autoptr(SluiceResponse) r = NULL;
  g_autoptr(SluiceResponse) streamed = NULL;
  g_autoptr(JsonObject) body = NULL;
  JsonObject *config;
  g_autofree char *target = NULL;
  g_autoptr(GError) error = NULL;

  server_start ();
  serve ("<shape>", 200, JSON, text);
  serve ("<stream-shape>", 200, SSE, stream_text);
  target = g_strdup_printf ("{\"provider\": \"gemini\", \"model\": \"models/gemini-2.0-flash\", \"base_url\": \"%s/\","
                            " \"api_key\": \"" TEST_KEY "\", \"timeout\": \"20s\", \"temperature\": 0.5, \"top_p\": 0.25,"
                            " \"top_k\": 40, \"max_tokens\": 64, \"stop\": [\"END\"], \"safety_settings\": " SAFETY ","
                            " \"tools\": " TOOLS ", \"tool_config\": " TOOL_CONFIG ","
                            " \"extra_headers\": {\"X-Sluice-Test\": \"yes\"}, \"output_schema\": " SCHEMA "}",
                            server.url);
  provider = sluice_test_provider_try (engine, "gemini", target, &error);
  g_assert_no_error (error);
  r = sluice_test_send_context (provider, context);
  g_assert_null (sluice_response_get_error (r));

  /* The key in its header, never in the URL. */
  g_assert_cmpstr (server.last.path, ==, "/v1beta/models/gemini-2.0-flash:generateContent");
  g_assert_null (server.last.query);
  g_assert_cmpstr (soup_message_headers_get_one (server.last.headers, "x-goog-api-key"), ==, TEST_KEY);
  g_assert_null (soup_message_headers_get_one (server.last.headers, "Authorization"));
  g_assert_cmpstr (soup_message_headers_get_content_type (server.last.headers, NULL), ==, "application/json");
  g_assert_cmpstr (soup_message_headers_get_one (server.last.headers, "X-Sluice-Test"), ==, "yes");
  g_assert_null (strstr (server.last.body, TEST_KEY));

  /* System messages apart; assistant is "model"; a role's run is one content. */
  body = sluice_test_capture_body (&server.last);
  sluice_test_assert_json (json_object_get_member (body, "systemInstruction"),
                           "{\"parts\": [{\"text\": \"Be brief.\"}, {\"text\": \"Answer in JSON.\"}]}");
  sluice_test_assert_json (json_object_get_member (body, "contents"),
                           "[{\"role\": \"user\", \"parts\": [{\"text\": \"first\"}, {\"text\": \"second\"}]},"
                           " {\"role\": \"model\", \"parts\": [{\"text\": \"an answer\"}]},"
                           " {\"role\": \"user\", \"parts\": [{\"text\": \"<shape>\"}]}]");
  config = json_object_get_object_member (body, "generationConfig");
  g_assert_cmpfloat (json_object_get_double_member (config, "temperature"), ==, 0.5);
  g_assert_cmpfloat (json_object_get_double_member (config, "topP"), ==, 0.25);
  g_assert_cmpint (json_object_get_int_member (config, "topK"), ==, 40);
  g_assert_cmpint (json_object_get_int_member (config, "maxOutputTokens"), ==, 64);
  sluice_test_assert_json (json_object_get_member (config, "stopSequences"), "[\"END\"]");
  /* Native structured output: the schema as it is. */
  g_assert_cmpstr (json_object_get_string_member (config, "responseMimeType"), ==, "application/json");
  sluice_test_assert_json (json_object_get_member (config, "responseJsonSchema"), SCHEMA);
  g_assert_cmpuint (json_object_get_size (config), ==, 7);
  sluice_test_assert_json (json_object_get_member (body, "safetySettings"), SAFETY);
  sluice_test_assert_json (json_object_get_member (body, "tools"), TOOLS);
  sluice_test_assert_json (json_object_get_member (body, "toolConfig"), TOOL_CONFIG);
  /* Only what the API knows goes out. */
  g_assert_cmpuint (json_object_get_size (body), ==, 6);

  /* A stream: streamGenerateContent?alt=sse; a bare request: no generationConfig. */
  streaming = provider_for (TRUE, NULL);
  streamed = sluice_test_send_text (streaming, "<stream-shape>");
  g_assert_null (sluice_response_get_error (streamed));
  g_assert_cmpstr (server.last.path, ==, "/v1beta/models/gemini-2.0-flash:streamGenerateContent");
  g_assert_cmpstr (server.last.query, ==, "alt=sse");
  g_assert_cmpstr (soup_message_headers_get_one (server.last.headers, "x-goog-api-key"), ==, TEST_KEY);
  sluice_test_assert_contains (soup_message_headers_get_one (server.last.headers, "Accept"), "text/event-stream");
  g_clear_pointer (&body, json_object_unref);
  body = sluice_test_capture_body (&server.last);
  g_assert_false (json_object_has_member (body, "generationConfig"));
  g_assert_cmpuint (json_object_get_size (body), ==, 2);

  server_stop ();
}

static void
test_model_is_escaped (void)
{
  g_autofree char *text = sluice_test_read_sample ("generateContent_text.json");
  g_autofree char *target = NULL;
  g_autoptr(SluiceProvider) provider = NULL;
  g_autoptr(SluiceResponse) r = NULL;
  g_autoptr(GError) error = NULL;

  server_start ();
  serve ("<escape>", 200, JSON, text);
  target = g_strdup_printf ("{\"model\": \"tuned/odd model?x=1\", \"base_url\": \"%s\", \"api_key\": \"" TEST_KEY "\"}",
                            server.url);
  provider = sluice_test_provider_try (engine, "gemini", target, &error);
  g_assert_no_error (error);
  r = sluice_test_send_text (provider, "<escape>");
  g_assert_null (sluice_response_get_error (r));
  /* The server decodes the path; had '?' gone out unescaped, x=1 would be a query. */
  g_assert_cmpstr (server.last.path, ==, "/v1beta/models/tuned/odd model?x=1:generateContent");
  g_assert_null (server.last.query);
  server_stop ();
}

static void
test_messages_it_cannot_send (void)
{
  g_autoptr(SluiceProvider) provider = NULL;
  g_autoptr(SluiceContext) tool = sluice_test_context_new ("user", "hi", "tool", "{\"temp\": 20}", NULL);
  g_autoptr(SluiceContext) only_system = sluice_test_context_new ("system", "Be brief.", NULL);
  g_autoptr(SluiceContext) empty = sluice_context_new (NULL);
  SluiceResponse *r;

  server_start ();
  provider = provider_for (FALSE, NULL);

  r = sluice_test_send_context (provider, tool);
  assert_failed (r, SLUICE_ERROR_BAD_REQUEST, 0, "message 1 has role 'tool', which the gemini provider cannot send");
  g_object_unref (r);

  r = sluice_test_send_context (provider, only_system);
  assert_failed (r, SLUICE_ERROR_BAD_REQUEST, 0, "no user message to send: gemini needs one besides the system prompt");
  g_object_unref (r);

  r = sluice_test_send_context (provider, empty);
  assert_failed (r, SLUICE_ERROR_BAD_REQUEST, 0, "no messages to send: add an assemble stage");
  g_object_unref (r);

  /* Nothing reached the server. */
  g_assert_null (server.last.path);
  server_stop ();
}

/* ---- configuration ------------------------------------------------------------------------ */

static void
test_configuration (void)
{
  static const struct { const char *target; SluiceErrorCode code; const char *message; } cases[] = {
    { "{\"model\": \"gemini-2.0-flash\"}", SLUICE_ERROR_AUTH,
      "no API key: set api_key (e.g. api_key: ${GEMINI_API_KEY})" },
    { "{\"model\": \"gemini-2.0-flash\", \"api_key\": \"\"}", SLUICE_ERROR_AUTH,
      "no API key: set api_key (e.g. api_key: ${GEMINI_API_KEY})" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"temperature\": 2.5}", SLUICE_ERROR_INVALID_CONFIG,
      "'temperature' must be a number from 0 to 2" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"top_p\": 1.5}", SLUICE_ERROR_INVALID_CONFIG,
      "'top_p' must be a number from 0 to 1" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"top_k\": 0}", SLUICE_ERROR_INVALID_CONFIG,
      "'top_k' must be a positive integer" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"max_tokens\": \"100\"}", SLUICE_ERROR_INVALID_CONFIG,
      "'max_tokens' must be a positive integer" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"stop\": [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\"]}",
      SLUICE_ERROR_INVALID_CONFIG, "'stop' must be a string or an array of 1 to 5 strings" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"stop\": \"\"}", SLUICE_ERROR_INVALID_CONFIG,
      "'stop' must be a string or an array of 1 to 5 strings" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"safety_settings\": {}}", SLUICE_ERROR_INVALID_CONFIG,
      "'safety_settings' must be an array" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"tools\": \"lookup\"}", SLUICE_ERROR_INVALID_CONFIG,
      "'tools' must be an array" },
    { "{\"model\": \"m\", \"api_key\": \"" TEST_KEY "\", \"tool_config\": []}", SLUICE_ERROR_INVALID_CONFIG,
      "'tool_config' must be an object" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    sluice_test_assert_config_refused (engine, "gemini", cases[i].target, cases[i].code, cases[i].message, TEST_KEY);

  /* A string stop is one sequence; a configured provider reconfigures cleanly. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(SluiceProvider) provider = sluice_test_provider_try (
      engine, "gemini", "{\"model\": \"m\", \"api_key\": \"k\", \"stop\": \"END\"}", &error);

    g_assert_no_error (error);
    g_assert_nonnull (provider);
  }
}

/* The schema `sluice check` and the call stage validate targets with. */
static void
test_schema (void)
{
  static const struct { const char *target; const char *complaint; } cases[] = {
    { "{\"provider\": \"gemini\", \"model\": \"gemini-2.0-flash\", \"base_url\": \"https://example.com/v1beta\","
      " \"api_key\": \"${GEMINI_API_KEY}\", \"timeout\": \"20s\", \"stream\": \"true\", \"idle_timeout\": \"1.5s\","
      " \"max_tokens\": 64, \"temperature\": 2, \"top_p\": 1, \"top_k\": 40, \"stop\": [\"END\"],"
      " \"safety_settings\": " SAFETY ", \"tools\": " TOOLS ", \"tool_config\": " TOOL_CONFIG ","
      " \"extra_headers\": {\"X-Proxy\": \"1\"}}", NULL },
    { "{\"provider\": \"gemini\", \"model\": \"gemini-2.0-flash\", \"stop\": \"END\"}", NULL },
    { "{\"provider\": \"gemini\"}", "model" },
    { "{\"provider\": \"openai\", \"model\": \"m\"}", "/provider" },
    { "{\"provider\": \"gemini\", \"model\": \"m\", \"seed\": 7}", "seed" },
    { "{\"provider\": \"gemini\", \"model\": \"m\", \"temperature\": 2.5}", "/temperature" },
    { "{\"provider\": \"gemini\", \"model\": \"m\", \"top_k\": 0}", "/top_k" },
    { "{\"provider\": \"gemini\", \"model\": \"m\", \"stop\": [\"1\", \"2\", \"3\", \"4\", \"5\", \"6\"]}", "/stop" },
    { "{\"provider\": \"gemini\", \"model\": \"m\", \"safety_settings\": [{\"category\": \"X\"}]}", "/safety_settings" },
    { "{\"provider\": \"gemini\", \"model\": \"m\", \"idle_timeout\": \"soon\"}", "/idle_timeout" },
    { "{\"provider\": \"gemini\", \"model\": \"m\", \"base_url\": \"ftp://example.com\"}", "/base_url" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(JsonNode) target = sluice_json_from_string (cases[i].target, -1, NULL);
      g_autoptr(GError) error = NULL;
      gboolean ok;

      g_test_message ("%s", cases[i].target);
      g_assert_nonnull (target);
      ok = sluice_engine_check_config (engine, "provider", "gemini", target, &error);
      if (cases[i].complaint == NULL)
        {
          g_assert_no_error (error);
          g_assert_true (ok);
        }
      else
        {
          g_assert_false (ok);
          g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG);
          sluice_test_assert_contains (error->message, cases[i].complaint);
        }
    }
}

/* ---- the key never shows -------------------------------------------------------------------- */

static void
test_secret_is_scrubbed (void)
{
  static const char * const markers[] = {
    "<echo-400>", "<echo-stream>", "<echo-chunk>", "<echo-stray>", "<echo-200>", "<echo-html>",
  };
  g_autoptr(SluiceProvider) provider = NULL;
  g_autoptr(SluiceProvider) streaming = NULL;

  server_start ();
  provider = provider_for (FALSE, NULL);
  streaming = provider_for (TRUE, NULL);
  serve ("<echo-400>", 400, JSON,
         "{\"error\": {\"code\": 400, \"message\": \"API key not valid: " TEST_KEY "\", \"status\": \"INVALID_ARGUMENT\","
         " \"details\": [{\"@type\": \"type.googleapis.com/google.rpc.ErrorInfo\", \"reason\": \"API_KEY_INVALID\"}]}}");
  serve ("<echo-stream>", 200, SSE, CHUNK ("Hi") "data: key=" TEST_KEY " is not JSON\r\n\r\n");
  serve ("<echo-chunk>", 200, SSE,
         "data: " GOOGLE_ERROR (403, "PERMISSION_DENIED", "The key AIzaSyD-sluice was revoked.", "") "\r\n\r\n");
  serve ("<echo-stray>", 200, SSE,
         CHUNK ("Hi") "{\"error\": {\"code\": 401, \"message\": \"bad key " TEST_KEY "\", \"status\": \"UNAUTHENTICATED\"}}\n");
  serve ("<echo-200>", 200, JSON, GOOGLE_ERROR (500, "INTERNAL", "failed for key " TEST_KEY, ""));
  serve ("<echo-html>", 200, "text/html", "<html>key=" TEST_KEY "</html>");

  sluice_test_clear_logs ();
  for (guint i = 0; i < G_N_ELEMENTS (markers); i++)
    {
      gboolean stream = strstr (markers[i], "stream") != NULL || strstr (markers[i], "chunk") != NULL ||
                        strstr (markers[i], "stray") != NULL;
      g_autoptr(SluiceResponse) r = sluice_test_send_text (stream ? streaming : provider, markers[i]);
      const char *message = sluice_response_get_error (r)->message;

      g_test_message ("%s: %s", markers[i], message);
      sluice_test_assert_contains (message, "[redacted]");
      sluice_test_assert_no_secret ("the error", message, TEST_KEY, "AIzaSyD-", NULL);
    }
  {
    g_autoptr(SluiceResponse) r = sluice_test_send_text (provider, "<echo-400>");

    assert_failed (r, SLUICE_ERROR_AUTH, 400, "HTTP 400: API key not valid: [redacted]");
  }
  g_assert_null (strstr (sluice_test_get_logs (), TEST_KEY));
  server_stop ();
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  engine = sluice_test_provider_setup ("gemini");
  if (engine == NULL)
    return 77;

  g_test_add_func ("/gemini/samples", test_samples);
  g_test_add_func ("/gemini/samples-all-covered", test_samples_all_covered);
  g_test_add_func ("/gemini/mock", test_mock);
  g_test_add_func ("/gemini/error-classification", test_error_classification);
  g_test_add_func ("/gemini/error-without-status", test_error_without_status);
  g_test_add_func ("/gemini/answers", test_answers);
  g_test_add_func ("/gemini/stream-failures", test_stream_failures);
  g_test_add_func ("/gemini/request-shape", test_request_shape);
  g_test_add_func ("/gemini/model-is-escaped", test_model_is_escaped);
  g_test_add_func ("/gemini/messages-it-cannot-send", test_messages_it_cannot_send);
  g_test_add_func ("/gemini/configuration", test_configuration);
  g_test_add_func ("/gemini/schema", test_schema);
  g_test_add_func ("/gemini/secret-is-scrubbed", test_secret_is_scrubbed);

  return sluice_test_provider_run (engine);
}
