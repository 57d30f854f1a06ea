/* sluice-test-provider.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-provider.h"

#include <stdarg.h>
#include <string.h>

static char *samples_dir;

/* ---- setup ---------------------------------------------------------------- */

SluiceEngine *
sluice_test_provider_setup (const char *samples_provider)
{
  if (samples_provider != NULL)
    {
      const char *shared = g_getenv ("SLUICE_SHARED_TESTDATA");

      samples_dir = g_build_filename (shared != NULL ? shared : "../shared/testdata",
                                      "provider-samples", samples_provider, NULL);
      if (!g_file_test (samples_dir, G_FILE_TEST_IS_DIR))
        {
          g_print ("1..0 # SKIP the recorded provider samples are not there (%s); "
                   "set SLUICE_SHARED_TESTDATA to the shared testdata folder\n", samples_dir);
          g_clear_pointer (&samples_dir, g_free);
          return NULL;
        }
    }
  sluice_test_capture_logs ();
  return sluice_engine_new ();
}

int
sluice_test_provider_run (SluiceEngine *engine)
{
  int status = g_test_run ();

  sluice_test_mock_stop ();
  g_object_unref (engine);
  sluice_test_stop_capturing_logs ();
  g_clear_pointer (&samples_dir, g_free);
  return status;
}

/* ---- the recorded samples ------------------------------------------------- */

char *
sluice_test_read_sample (const char *name)
{
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;
  char *contents = NULL;

  g_assert_nonnull (samples_dir);
  path = g_build_filename (samples_dir, name, NULL);
  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  return contents;
}

guint
sluice_test_assert_samples_listed (const void *table,
                                   gsize       n_rows,
                                   gsize       row_size,
                                   const char *prefix)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = NULL;
  const char *name;
  guint n_files = 0;

  g_assert_nonnull (samples_dir);
  dir = g_dir_open (samples_dir, 0, &error);
  g_assert_no_error (error);
  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      gboolean listed = FALSE;

      if (!g_str_has_prefix (name, prefix))
        continue;
      for (gsize i = 0; i < n_rows && !listed; i++)
        listed = g_str_equal (*(const char * const *) ((const guint8 *) table + i * row_size), name);
      if (!listed)
        g_error ("the sample %s has no row in the samples table", name);
      n_files++;
    }
  return n_files;
}

/* ---- the mock's scenario -------------------------------------------------- */

JsonNode *
sluice_test_status_step (guint       status,
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
    {
      JsonNode *node = sluice_json_from_string (headers, -1, NULL);

      g_assert_nonnull (node);
      json_object_set_member (step, "headers", node);
    }
  return json_node_init_object (json_node_alloc (), step);
}

void
sluice_test_add_rule (JsonArray  *rules,
                      const char *marker,
                      JsonNode   *step)
{
  JsonObject *rule = json_object_new ();

  json_object_set_string_member (rule, "match", marker);
  json_object_set_member (rule, "then", step);
  json_array_add_object_element (rules, rule);
}

char *
sluice_test_mock_start_scenario (const char *scenario,
                                 const char *require_key)
{
  g_autofree char *path = sluice_test_write_file ("scenario.json", scenario);

  if (require_key != NULL)
    return sluice_test_mock_start ("--scenario", path, "--require-key", require_key, NULL);
  return sluice_test_mock_start ("--scenario", path, NULL);
}

char *
sluice_test_mock_start_rules (JsonArray  *rules,
                              const char *require_key)
{
  g_autoptr(JsonObject) root = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *text = NULL;

  json_object_set_array_member (root, "rules", json_array_ref (rules));
  node = json_node_init_object (json_node_alloc (), root);
  text = sluice_json_to_string (node);
  return sluice_test_mock_start_scenario (text, require_key);
}

char *
sluice_test_mock_start_with_rules (const char *first_marker,
                                   ...)
{
  g_autoptr(JsonArray) rules = json_array_new ();
  va_list args;

  va_start (args, first_marker);
  for (const char *marker = first_marker; marker != NULL; marker = va_arg (args, const char *))
    sluice_test_add_rule (rules, marker, va_arg (args, JsonNode *));
  va_end (args);
  return sluice_test_mock_start_rules (rules, NULL);
}

/* ---- providers ------------------------------------------------------------ */

SluiceProvider *
sluice_test_provider_try (SluiceEngine  *engine,
                          const char    *plugin,
                          const char    *target_json,
                          GError       **error)
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

void
sluice_test_assert_config_refused (SluiceEngine    *engine,
                                   const char      *plugin,
                                   const char      *target_json,
                                   SluiceErrorCode  code,
                                   const char      *message,
                                   const char      *secret)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceProvider) provider = sluice_test_provider_try (engine, plugin, target_json, &error);

  g_test_message ("%s", target_json);
  g_assert_null (provider);
  g_assert_error (error, SLUICE_ERROR, (gint) code);
  g_assert_cmpstr (error->message, ==, message);
  if (secret != NULL)
    g_assert_null (strstr (error->message, secret));
}

SluiceProvider *
sluice_test_provider_new (SluiceEngine *engine,
                          const char   *plugin,
                          const char   *target_format,
                          ...)
{
  g_autofree char *target = NULL;
  g_autoptr(GError) error = NULL;
  SluiceProvider *provider;
  va_list args;

  va_start (args, target_format);
  target = g_strdup_vprintf (target_format, args);
  va_end (args);
  provider = sluice_test_provider_try (engine, plugin, target, &error);
  g_assert_no_error (error);
  g_assert_nonnull (provider);
  return provider;
}

/* ---- sending -------------------------------------------------------------- */

SluiceContext *
sluice_test_context_new (const char *first_role,
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

void
sluice_test_sent_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  SluiceTestSent *sent = user_data;

  sent->response = sluice_provider_send_finish (SLUICE_PROVIDER (source), result, &sent->error);
  sent->done = TRUE;
}

SluiceResponse *
sluice_test_send (SluiceProvider  *provider,
                  SluiceContext   *context,
                  GCancellable    *cancellable,
                  GError         **error)
{
  SluiceTestSent sent = { 0 };

  sluice_provider_send_async (provider, context, cancellable, sluice_test_sent_cb, &sent);
  while (!sent.done)
    g_main_context_iteration (NULL, TRUE);
  if (sent.error != NULL)
    g_propagate_error (error, sent.error);
  return sent.response;
}

SluiceResponse *
sluice_test_send_context (SluiceProvider *provider,
                          SluiceContext  *context)
{
  g_autoptr(GError) error = NULL;
  SluiceResponse *response = sluice_test_send (provider, context, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (response);
  return response;
}

SluiceResponse *
sluice_test_send_text (SluiceProvider *provider,
                       const char     *user_text)
{
  g_autoptr(SluiceContext) context = sluice_test_context_new ("system", "Be brief.", "user", user_text, NULL);

  return sluice_test_send_context (provider, context);
}

/* ---- what came back ------------------------------------------------------- */

void
sluice_test_assert_failed (SluiceResponse  *response,
                           SluiceErrorCode  code,
                           guint            http_status,
                           const char      *message)
{
  const GError *error = sluice_response_get_error (response);

  g_assert_error ((GError *) error, SLUICE_ERROR, (gint) code);
  g_assert_cmpuint (sluice_response_get_http_status (response), ==, http_status);
  if (message != NULL)
    g_assert_cmpstr (error->message, ==, message);
}

void
sluice_test_assert_no_secret (const char *where,
                              const char *text,
                              const char *secret,
                              ...)
{
  va_list args;

  if (text == NULL)
    return;
  va_start (args, secret);
  for (const char *part = secret; part != NULL; part = va_arg (args, const char *))
    if (strstr (text, part) != NULL)
      g_error ("the API key (\"%s\") shows in %s: %s", part, where, text);
  va_end (args);
}

void
sluice_test_assert_json (JsonNode   *node,
                         const char *expected)
{
  g_autofree char *text = sluice_json_to_string (node);
  g_autoptr(JsonNode) want = sluice_json_from_string (expected, -1, NULL);
  g_autofree char *want_text = NULL;

  g_assert_nonnull (want);
  want_text = sluice_json_to_string (want);
  g_assert_cmpstr (text, ==, want_text);
}

/* ---- a local server that keeps the last request --------------------------- */

void
sluice_test_capture_record (SluiceTestCapture *capture,
                            SoupServerMessage *msg)
{
  g_autoptr(GBytes) body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  GUri *uri = soup_server_message_get_uri (msg);

  sluice_test_capture_clear (capture);
  capture->method = g_strdup (soup_server_message_get_method (msg));
  capture->path = g_strdup (g_uri_get_path (uri));
  capture->query = g_strdup (g_uri_get_query (uri));
  capture->headers = soup_message_headers_ref (soup_server_message_get_request_headers (msg));
  capture->body = g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));
}

void
sluice_test_capture_clear (SluiceTestCapture *capture)
{
  g_clear_pointer (&capture->method, g_free);
  g_clear_pointer (&capture->path, g_free);
  g_clear_pointer (&capture->query, g_free);
  g_clear_pointer (&capture->headers, soup_message_headers_unref);
  g_clear_pointer (&capture->body, g_free);
}

JsonObject *
sluice_test_capture_body (SluiceTestCapture *capture)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;

  g_assert_nonnull (capture->body);
  node = sluice_json_from_string (capture->body, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  return json_object_ref (json_node_get_object (node));
}

SoupServer *
sluice_test_server_new (SoupServerCallback   handler,
                        gpointer             user_data,
                        const char          *path,
                        char               **base_url)
{
  SoupServer *server = soup_server_new (NULL, NULL);
  g_autoptr(GError) error = NULL;
  GSList *uris;

  soup_server_add_handler (server, NULL, handler, user_data, NULL);
  soup_server_listen_local (server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
  g_assert_no_error (error);
  uris = soup_server_get_uris (server);
  *base_url = g_strdup_printf ("http://127.0.0.1:%d%s", g_uri_get_port (uris->data), path);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return server;
}

static void
capture_handler (SoupServer        *server,
                 SoupServerMessage *msg,
                 const char        *path,
                 GHashTable        *query,
                 gpointer           user_data)
{
  SluiceTestCapture *capture = user_data;

  sluice_test_capture_record (capture, msg);
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, capture->reply_type, SOUP_MEMORY_STATIC,
                                    capture->reply, strlen (capture->reply));
}

SoupServer *
sluice_test_capture_server_new (SluiceTestCapture  *capture,
                                const char         *path,
                                char              **base_url)
{
  return sluice_test_server_new (capture_handler, capture, path, base_url);
}
