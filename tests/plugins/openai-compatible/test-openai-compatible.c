/* test-openai-compatible.c — the openai-compatible provider: what local
 * and third-party servers do differently from OpenAI (no key, no default
 * base_url, usage missing or partial, their own error bodies, streams
 * without [DONE]). The wire format itself is tested in test-openai.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-util.h"

#include <string.h>

static SluiceEngine *engine;

/* ---- harness -------------------------------------------------------------------- */

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
  json_object_set_string_member (step, "body", body);
  if (content_type != NULL)
    json_object_set_string_member (step, "content_type", content_type);
  if (headers != NULL)
    json_object_set_member (step, "headers", sluice_json_from_string (headers, -1, NULL));
  return json_node_init_object (json_node_alloc (), step);
}

/* Starts the mock with one rule per (marker, step) pair. */
static char *
start_mock_with_rules (const char *first_marker,
                       ...)
{
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autoptr(JsonObject) root = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *text = NULL;
  g_autofree char *path = NULL;
  va_list args;

  va_start (args, first_marker);
  for (const char *marker = first_marker; marker != NULL; marker = va_arg (args, const char *))
    {
      JsonObject *rule = json_object_new ();

      json_object_set_string_member (rule, "match", marker);
      json_object_set_member (rule, "then", va_arg (args, JsonNode *));
      json_array_add_object_element (rules, rule);
    }
  va_end (args);

  json_object_set_array_member (root, "rules", json_array_ref (rules));
  node = json_node_init_object (json_node_alloc (), root);
  text = sluice_json_to_string (node);
  path = sluice_test_write_file ("scenario.json", text);
  return sluice_test_mock_start ("--scenario", path, NULL);
}

/* A configured @plugin ("openai-compatible" or "openai"), or NULL with @error. */
static SluiceProvider *
make_provider (const char  *plugin,
               const char  *target_json,
               GError     **error)
{
  g_autoptr(JsonNode) target = sluice_json_from_string (target_json, -1, NULL);
  g_autoptr(GObject) provider = NULL;

  g_assert_nonnull (target);
  provider = sluice_engine_create (engine, "provider", plugin, NULL);
  g_assert_true (SLUICE_IS_PROVIDER (provider));
  if (!sluice_provider_configure (SLUICE_PROVIDER (provider), json_node_get_object (target), error))
    return NULL;
  return SLUICE_PROVIDER (g_steal_pointer (&provider));
}

/* A local server's provider: no key; @extra is more target members (a
 * JSON fragment that starts with a comma, or ""). */
static SluiceProvider *
local_provider (const char *base_url,
                const char *extra)
{
  g_autofree char *target = g_strdup_printf ("{\"model\": \"llama3.2\", \"base_url\": \"%s\"%s}", base_url, extra);
  g_autoptr(GError) error = NULL;
  SluiceProvider *provider = make_provider ("openai-compatible", target, &error);

  g_assert_no_error (error);
  return provider;
}

/* The mock wants a Bearer token, as vLLM started with --api-key does. */
#define MOCK_KEY ", \"api_key\": \"sk-local\""

static SluiceContext *
new_context (const char *user_text)
{
  g_autofree char *json = g_strdup_printf ("[{\"role\": \"system\", \"content\": \"Be brief.\"},"
                                           " {\"role\": \"user\", \"content\": \"%s\"}]", user_text);
  g_autoptr(JsonNode) messages = sluice_json_from_string (json, -1, NULL);
  SluiceContext *context = sluice_context_new (NULL);

  sluice_context_set_messages (context, json_node_get_array (messages));
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
send_text (SluiceProvider *provider,
           const char     *user_text)
{
  g_autoptr(SluiceContext) context = new_context (user_text);
  Sent sent = { 0 };

  sluice_provider_send_async (provider, context, NULL, on_sent, &sent);
  while (!sent.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_no_error (sent.error);
  g_assert_nonnull (sent.response);
  return sent.response;
}

static void
assert_failed (SluiceResponse  *response,
               SluiceErrorCode  code,
               guint            http_status,
               const char      *message)
{
  const GError *error = sluice_response_get_error (response);

  g_assert_error ((GError *) error, SLUICE_ERROR, (gint) code);
  g_assert_cmpuint (sluice_response_get_http_status (response), ==, http_status);
  g_assert_cmpstr (error->message, ==, message);
}

static void
assert_ok (SluiceResponse *response)
{
  g_assert_no_error ((GError *) sluice_response_get_error (response));
}

/* ---- configuration and the key ------------------------------------------------------- */

static SoupMessageHeaders *captured_headers;

static void
capture_handler (SoupServer        *server,
                 SoupServerMessage *msg,
                 const char        *path,
                 GHashTable        *query,
                 gpointer           user_data)
{
  static const char answer[] =
    "{\"id\":\"chatcmpl-local\",\"object\":\"chat.completion\",\"model\":\"llama3.2\",\"choices\":[{\"index\":0,"
    "\"message\":{\"role\":\"assistant\",\"content\":\"Hi.\"},\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":2}}";

  g_clear_pointer (&captured_headers, soup_message_headers_unref);
  captured_headers = soup_message_headers_ref (soup_server_message_get_request_headers (msg));
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC, answer, strlen (answer));
}

static void
test_no_key (void)
{
  g_autoptr(SoupServer) server = soup_server_new (NULL, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceProvider) keyless = NULL;
  g_autoptr(SluiceProvider) keyed = NULL;
  g_autofree char *url = NULL;
  SluiceResponse *r;
  GSList *uris;

  soup_server_add_handler (server, NULL, capture_handler, NULL, NULL);
  soup_server_listen_local (server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
  g_assert_no_error (error);
  uris = soup_server_get_uris (server);
  url = g_strdup_printf ("http://127.0.0.1:%d/v1", g_uri_get_port (uris->data));
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);

  /* No key, and none sent: Ollama and llama.cpp need none. */
  keyless = local_provider (url, "");
  r = send_text (keyless, "hello");
  assert_ok (r);
  g_assert_cmpstr (sluice_response_get_text (r), ==, "Hi.");
  g_assert_null (soup_message_headers_get_one (captured_headers, "Authorization"));
  g_object_unref (r);

  /* An empty key (an unset variable) is no key either. */
  g_clear_object (&keyless);
  keyless = local_provider (url, ", \"api_key\": \"\"");
  r = send_text (keyless, "hello");
  assert_ok (r);
  g_assert_null (soup_message_headers_get_one (captured_headers, "Authorization"));
  g_object_unref (r);

  /* vLLM with --api-key, LM Studio with auth on: the key goes out as OpenAI's does. */
  keyed = local_provider (url, ", \"api_key\": \"local-secret\"");
  r = send_text (keyed, "hello");
  assert_ok (r);
  g_assert_cmpstr (soup_message_headers_get_one (captured_headers, "Authorization"), ==, "Bearer local-secret");
  g_object_unref (r);

  g_clear_pointer (&captured_headers, soup_message_headers_unref);
}

static void
test_base_url_required (void)
{
  static const char * const targets[] = {
    "{\"model\": \"llama3.2\"}",
    "{\"model\": \"llama3.2\", \"base_url\": null}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (targets); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(SluiceProvider) provider = make_provider ("openai-compatible", targets[i], &error);

      g_assert_null (provider);
      g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG);
      g_assert_cmpstr (error->message, ==, "'base_url' is required, e.g. base_url: http://localhost:11434/v1");
    }
}

/* ---- usage ------------------------------------------------------------------------------ */

static void
test_missing_usage (void)
{
  g_autofree char *url = start_mock_with_rules (
    "<none>", status_step (200, "{\"id\":\"chatcmpl-1\",\"model\":\"llama3.2\",\"choices\":[{\"index\":0,"
                                "\"message\":{\"role\":\"assistant\",\"content\":\"The weather is mild and "
                                "sunny today.\"},\"finish_reason\":\"stop\"}]}", NULL, NULL),
    "<prompt-only>", status_step (200, "{\"id\":\"chatcmpl-2\",\"model\":\"llama3.2\",\"choices\":[{\"index\":0,"
                                       "\"message\":{\"role\":\"assistant\",\"content\":\"Mild.\"},"
                                       "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":123}}", NULL, NULL),
    NULL);
  g_autoptr(SluiceProvider) provider = local_provider (url, MOCK_KEY);
  SluiceResponse *r;

  /* No usage at all: both counts estimated, and marked so. */
  r = send_text (provider, "<none> what is the weather like?");
  assert_ok (r);
  g_assert_true (sluice_response_get_usage_estimated (r));
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), >=,
                   sluice_estimate_tokens ("Be brief.") + sluice_estimate_tokens ("<none> what is the weather like?"));
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==,
                   sluice_estimate_tokens ("The weather is mild and sunny today."));
  g_assert_cmpint (sluice_response_get_completion_tokens (r), >, 0);
  g_object_unref (r);

  /* Half a report: the half that came is kept exact, the rest estimated. */
  r = send_text (provider, "<prompt-only>");
  assert_ok (r);
  g_assert_true (sluice_response_get_usage_estimated (r));
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 123);
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, sluice_estimate_tokens ("Mild."));
  g_assert_cmpint (sluice_response_get_completion_tokens (r), >, 0);
  g_object_unref (r);

  sluice_test_mock_stop ();
}

/* ---- error bodies -------------------------------------------------------------------- */

static void
test_error_bodies (void)
{
  g_autofree char *url = start_mock_with_rules (
    "<ollama>", status_step (404, "{\"error\":\"model \\\"x\\\" not found, try pulling it first\"}", NULL, NULL),
    "<vllm>", status_step (400, "{\"object\": \"error\", \"message\": \"This model's maximum context length is "
                                "4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in "
                                "the completion). Please reduce the length of the messages or completion.\", "
                                "\"type\": \"BadRequestError\", \"param\": null, \"code\": 400}", NULL, NULL),
    "<llama.cpp>", status_step (400, "{\"error\": {\"code\": 400, \"message\": \"the request exceeds the available "
                                     "context size, try increasing it\", \"type\": \"exceed_context_size_error\"}}",
                                NULL, NULL),
    NULL);
  g_autoptr(SluiceProvider) provider = local_provider (url, MOCK_KEY);
  SluiceResponse *r;

  r = send_text (provider, "<ollama>");
  assert_failed (r, SLUICE_ERROR_NOT_FOUND, 404, "HTTP 404: model \"x\" not found, try pulling it first");
  g_object_unref (r);

  r = send_text (provider, "<vllm>");
  assert_failed (r, SLUICE_ERROR_CONTEXT_OVERFLOW, 400,
                 "HTTP 400: This model's maximum context length is 4096 tokens. However, you requested 5000 "
                 "tokens (4000 in the messages, 1000 in the completion). Please reduce the length of the "
                 "messages or completion.");
  g_assert_false (sluice_error_code_is_retryable (SLUICE_ERROR_CONTEXT_OVERFLOW));
  g_object_unref (r);

  r = send_text (provider, "<llama.cpp>");
  assert_failed (r, SLUICE_ERROR_CONTEXT_OVERFLOW, 400,
                 "HTTP 400: the request exceeds the available context size, try increasing it");
  g_object_unref (r);

  sluice_test_mock_stop ();
}

/* ---- streams ---------------------------------------------------------------------------- */

#define CHUNK(delta, reason) \
  "data: {\"id\":\"chatcmpl-s\",\"object\":\"chat.completion.chunk\",\"model\":\"llama3.2\"," \
  "\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" reason "}]}\n\n"

/* Some servers end the stream at the finish reason, without [DONE]: an
 * openai-compatible provider takes that as the end, openai does not. */
static void
test_stream_without_done (void)
{
  g_autofree char *url = start_mock_with_rules (
    "<no-done>", status_step (200, CHUNK ("{\"role\":\"assistant\",\"content\":\"Hello\"}", "null")
                                   CHUNK ("{\"content\":\" there\"}", "null")
                                   CHUNK ("{}", "\"stop\"")
                                   "data: {\"id\":\"chatcmpl-s\",\"object\":\"chat.completion.chunk\","
                                   "\"model\":\"llama3.2\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,"
                                   "\"completion_tokens\":2,\"prompt_tokens_details\":{\"cached_tokens\":4},"
                                   "\"completion_tokens_details\":{\"reasoning_tokens\":1}}}\n\n", "text/event-stream", NULL),
    "<no-finish>", status_step (200, CHUNK ("{\"role\":\"assistant\",\"content\":\"Hello\"}", "null")
                                     CHUNK ("{\"content\":\" there\"}", "null"), "text/event-stream", NULL),
    NULL);
  g_autofree char *openai_target = g_strdup_printf ("{\"model\": \"gpt-4o-mini\", \"base_url\": \"%s\","
                                                    " \"api_key\": \"sk-test\", \"stream\": true}", url);
  g_autoptr(SluiceProvider) local = local_provider (url, MOCK_KEY ", \"stream\": true");
  g_autoptr(SluiceProvider) openai = make_provider ("openai", openai_target, NULL);
  SluiceResponse *r;

  r = send_text (local, "<no-done>");
  assert_ok (r);
  g_assert_cmpstr (sluice_response_get_text (r), ==, "Hello there");
  g_assert_cmpstr (sluice_response_get_finish_reason (r), ==, "stop");
  g_assert_cmpstr (sluice_response_get_model (r), ==, "llama3.2");
  /* The usage after the finish reason is still read. */
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), ==, 9);
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==, 2);
  g_assert_cmpint (sluice_response_get_cached_tokens (r), ==, 4);
  g_assert_cmpint (sluice_response_get_reasoning_tokens (r), ==, 1);
  g_assert_false (sluice_response_get_usage_estimated (r));
  g_assert_true (sluice_response_get_streamed (r));
  g_assert_cmpint (sluice_response_get_ttft_us (r), >=, 0);
  g_object_unref (r);

  r = send_text (openai, "<no-done>");
  assert_failed (r, SLUICE_ERROR_TRUNCATED, 200,
                 "the stream from 127.0.0.1 ended after 4 events without its terminal event");
  g_assert_null (sluice_response_get_text (r));
  g_object_unref (r);

  /* Lenient, not blind: without a finish reason the answer is cut. */
  r = send_text (local, "<no-finish>");
  assert_failed (r, SLUICE_ERROR_TRUNCATED, 200,
                 "the stream from 127.0.0.1 ended after 2 events without its terminal event");
  g_assert_true (sluice_error_code_is_retryable (SLUICE_ERROR_TRUNCATED));
  g_object_unref (r);

  sluice_test_mock_stop ();
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  engine = sluice_engine_new ();

  g_test_add_func ("/openai-compatible/no-key", test_no_key);
  g_test_add_func ("/openai-compatible/base-url-required", test_base_url_required);
  g_test_add_func ("/openai-compatible/missing-usage", test_missing_usage);
  g_test_add_func ("/openai-compatible/error-bodies", test_error_bodies);
  g_test_add_func ("/openai-compatible/stream-without-done", test_stream_without_done);

  status = g_test_run ();

  sluice_test_mock_stop ();
  g_object_unref (engine);
  return status;
}
