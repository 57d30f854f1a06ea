/* test-openai-compatible.c — the openai-compatible provider: what local
 * and third-party servers do differently from OpenAI (no key, no default
 * base_url, usage missing or partial, their own error bodies, streams
 * without [DONE]). The wire format itself is tested in test-openai.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-provider.h"

static SluiceEngine *engine;

/* ---- harness -------------------------------------------------------------------- */

/* A local server's provider: no key; @extra is more target members (a
 * JSON fragment that starts with a comma, or ""). */
static SluiceProvider *
local_provider (const char *base_url,
                const char *extra)
{
  return sluice_test_provider_new (engine, "openai-compatible",
                                   "{\"model\": \"llama3.2\", \"base_url\": \"%s\"%s}", base_url, extra);
}

/* The mock wants a Bearer token, as vLLM started with --api-key does. */
#define MOCK_KEY ", \"api_key\": \"sk-local\""

static void
assert_ok (SluiceResponse *response)
{
  g_assert_no_error ((GError *) sluice_response_get_error (response));
}

/* ---- configuration and the key ------------------------------------------------------- */

static const char local_answer[] =
  "{\"id\":\"chatcmpl-local\",\"object\":\"chat.completion\",\"model\":\"llama3.2\",\"choices\":[{\"index\":0,"
  "\"message\":{\"role\":\"assistant\",\"content\":\"Hi.\"},\"finish_reason\":\"stop\"}],"
  "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":2}}";

static void
test_no_key (void)
{
  SluiceTestCapture capture = { .reply_type = "application/json", .reply = local_answer };
  g_autofree char *url = NULL;
  g_autoptr(SoupServer) server = sluice_test_capture_server_new (&capture, "/v1", &url);
  g_autoptr(SluiceProvider) keyless = NULL;
  g_autoptr(SluiceProvider) keyed = NULL;
  SluiceResponse *r;

  /* No key, and none sent: Ollama and llama.cpp need none. */
  keyless = local_provider (url, "");
  r = sluice_test_send_text (keyless, "hello");
  assert_ok (r);
  g_assert_cmpstr (sluice_response_get_text (r), ==, "Hi.");
  g_assert_null (soup_message_headers_get_one (capture.headers, "Authorization"));
  g_object_unref (r);

  /* An empty key (an unset variable) is no key either. */
  g_clear_object (&keyless);
  keyless = local_provider (url, ", \"api_key\": \"\"");
  r = sluice_test_send_text (keyless, "hello");
  assert_ok (r);
  g_assert_null (soup_message_headers_get_one (capture.headers, "Authorization"));
  g_object_unref (r);

  /* vLLM with --api-key, LM Studio with auth on: the key goes out as OpenAI's does. */
  keyed = local_provider (url, ", \"api_key\": \"local-secret\"");
  r = sluice_test_send_text (keyed, "hello");
  assert_ok (r);
  g_assert_cmpstr (soup_message_headers_get_one (capture.headers, "Authorization"), ==, "Bearer local-secret");
  g_object_unref (r);

  sluice_test_capture_clear (&capture);
}

static void
test_base_url_required (void)
{
  static const char * const targets[] = {
    "{\"model\": \"llama3.2\"}",
    "{\"model\": \"llama3.2\", \"base_url\": null}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (targets); i++)
    sluice_test_assert_config_refused (engine, "openai-compatible", targets[i], SLUICE_ERROR_INVALID_CONFIG,
                                       "'base_url' is required, e.g. base_url: http://localhost:11434/v1", NULL);
}

/* Azure-style: the credential is an extra header, not api_key. A server
 * that echoes it (in a 401, or in what it says of itself) does not show it. */
#define HEADER_KEY "azure-sluice-test-H5t8Wq3Zr6Mn"

static void
test_extra_header_secret_is_scrubbed (void)
{
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<echo-401>", sluice_test_status_step (401, "{\"error\":{\"code\":\"401\",\"message\":\"Access denied due "
                                                "to invalid subscription key " HEADER_KEY ".\"}}", NULL, NULL),
    "<echo-model>", sluice_test_status_step (200,
      "{\"id\":\"chatcmpl-" HEADER_KEY "\",\"model\":\"m-" HEADER_KEY "\",\"choices\":[{\"index\":0,"
      "\"message\":{\"role\":\"assistant\",\"content\":\"Hi.\"},\"finish_reason\":\"stop\"}]}",
      NULL, "{\"x-request-id\": \"\"}"),
    NULL);
  g_autoptr(SluiceProvider) provider = local_provider (url, ", \"extra_headers\": {\"api-key\": \"" HEADER_KEY "\"}");
  SluiceResponse *r;

  sluice_test_clear_logs ();
  r = sluice_test_send_text (provider, "<echo-401>");
  sluice_test_assert_failed (r, SLUICE_ERROR_AUTH, 401,
                             "HTTP 401: Access denied due to invalid subscription key [redacted].");
  sluice_test_assert_no_secret ("the error", sluice_response_get_error (r)->message, HEADER_KEY, "H5t8", NULL);
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<echo-model>");
  assert_ok (r);
  g_assert_cmpstr (sluice_response_get_model (r), ==, "m-[redacted]");
  g_assert_cmpstr (sluice_response_get_request_id (r), ==, "chatcmpl-[redacted]");
  g_object_unref (r);

  sluice_test_assert_no_secret ("the logs", sluice_test_get_logs (), HEADER_KEY, NULL);
  sluice_test_mock_stop ();
}

/* ---- usage ------------------------------------------------------------------------------ */

static void
test_missing_usage (void)
{
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<none>", sluice_test_status_step (200,
      "{\"id\":\"chatcmpl-1\",\"model\":\"llama3.2\",\"choices\":[{\"index\":0,"
      "\"message\":{\"role\":\"assistant\",\"content\":\"The weather is mild and "
      "sunny today.\"},\"finish_reason\":\"stop\"}]}", NULL, NULL),
    "<prompt-only>", sluice_test_status_step (200,
      "{\"id\":\"chatcmpl-2\",\"model\":\"llama3.2\",\"choices\":[{\"index\":0,"
      "\"message\":{\"role\":\"assistant\",\"content\":\"Mild.\"},"
      "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":123}}", NULL, NULL),
    NULL);
  g_autoptr(SluiceProvider) provider = local_provider (url, MOCK_KEY);
  SluiceResponse *r;

  /* No usage at all: both counts estimated, and marked so. */
  r = sluice_test_send_text (provider, "<none> what is the weather like?");
  assert_ok (r);
  g_assert_true (sluice_response_get_usage_estimated (r));
  g_assert_cmpint (sluice_response_get_prompt_tokens (r), >=,
                   sluice_estimate_tokens ("Be brief.") + sluice_estimate_tokens ("<none> what is the weather like?"));
  g_assert_cmpint (sluice_response_get_completion_tokens (r), ==,
                   sluice_estimate_tokens ("The weather is mild and sunny today."));
  g_assert_cmpint (sluice_response_get_completion_tokens (r), >, 0);
  g_object_unref (r);

  /* Half a report: the half that came is kept exact, the rest estimated. */
  r = sluice_test_send_text (provider, "<prompt-only>");
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
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<ollama>", sluice_test_status_step (404,
      "{\"error\":\"model \\\"x\\\" not found, try pulling it first\"}", NULL, NULL),
    "<vllm>", sluice_test_status_step (400,
      "{\"object\": \"error\", \"message\": \"This model's maximum context length is "
      "4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in "
      "the completion). Please reduce the length of the messages or completion.\", "
      "\"type\": \"BadRequestError\", \"param\": null, \"code\": 400}", NULL, NULL),
    "<llama.cpp>", sluice_test_status_step (400,
      "{\"error\": {\"code\": 400, \"message\": \"the request exceeds the available "
      "context size, try increasing it\", \"type\": \"exceed_context_size_error\"}}",
      NULL, NULL),
    NULL);
  g_autoptr(SluiceProvider) provider = local_provider (url, MOCK_KEY);
  SluiceResponse *r;

  r = sluice_test_send_text (provider, "<ollama>");
  sluice_test_assert_failed (r, SLUICE_ERROR_NOT_FOUND, 404, "HTTP 404: model \"x\" not found, try pulling it first");
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<vllm>");
  sluice_test_assert_failed (r, SLUICE_ERROR_CONTEXT_OVERFLOW, 400,
                             "HTTP 400: This model's maximum context length is 4096 tokens. However, you requested 5000 "
                             "tokens (4000 in the messages, 1000 in the completion). Please reduce the length of the "
                             "messages or completion.");
  g_assert_false (sluice_error_code_is_retryable (SLUICE_ERROR_CONTEXT_OVERFLOW));
  g_object_unref (r);

  r = sluice_test_send_text (provider, "<llama.cpp>");
  sluice_test_assert_failed (r, SLUICE_ERROR_CONTEXT_OVERFLOW, 400,
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
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "<no-done>", sluice_test_status_step (200,
      CHUNK ("{\"role\":\"assistant\",\"content\":\"Hello\"}", "null")
      CHUNK ("{\"content\":\" there\"}", "null")
      CHUNK ("{}", "\"stop\"")
      "data: {\"id\":\"chatcmpl-s\",\"object\":\"chat.completion.chunk\","
      "\"model\":\"llama3.2\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,"
      "\"completion_tokens\":2,\"prompt_tokens_details\":{\"cached_tokens\":4},"
      "\"completion_tokens_details\":{\"reasoning_tokens\":1}}}\n\n", "text/event-stream", NULL),
    "<no-finish>", sluice_test_status_step (200,
      CHUNK ("{\"role\":\"assistant\",\"content\":\"Hello\"}", "null")
      CHUNK ("{\"content\":\" there\"}", "null"), "text/event-stream", NULL),
    NULL);
  g_autoptr(SluiceProvider) local = local_provider (url, MOCK_KEY ", \"stream\": true");
  g_autoptr(SluiceProvider) openai = sluice_test_provider_new (engine, "openai",
                                                              "{\"model\": \"gpt-4o-mini\", \"base_url\": \"%s\","
                                                              " \"api_key\": \"sk-test\", \"stream\": true}", url);
  SluiceResponse *r;

  r = sluice_test_send_text (local, "<no-done>");
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

  r = sluice_test_send_text (openai, "<no-done>");
  sluice_test_assert_failed (r, SLUICE_ERROR_TRUNCATED, 200,
                             "the stream from 127.0.0.1 ended after 4 events without its terminal event");
  g_assert_null (sluice_response_get_text (r));
  g_object_unref (r);

  /* Lenient, not blind: without a finish reason the answer is cut. */
  r = sluice_test_send_text (local, "<no-finish>");
  sluice_test_assert_failed (r, SLUICE_ERROR_TRUNCATED, 200,
                             "the stream from 127.0.0.1 ended after 2 events without its terminal event");
  g_assert_true (sluice_error_code_is_retryable (SLUICE_ERROR_TRUNCATED));
  g_object_unref (r);

  sluice_test_mock_stop ();
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  engine = sluice_test_provider_setup (NULL);

  g_test_add_func ("/openai-compatible/no-key", test_no_key);
  g_test_add_func ("/openai-compatible/base-url-required", test_base_url_required);
  g_test_add_func ("/openai-compatible/extra-header-secret-is-scrubbed", test_extra_header_secret_is_scrubbed);
  g_test_add_func ("/openai-compatible/missing-usage", test_missing_usage);
  g_test_add_func ("/openai-compatible/error-bodies", test_error_bodies);
  g_test_add_func ("/openai-compatible/stream-without-done", test_stream_without_done);

  return sluice_test_provider_run (engine);
}
