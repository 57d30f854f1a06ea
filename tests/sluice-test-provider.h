/* sluice-test-provider.h — the harness the provider tests share: the
 * recorded samples, the mock's scenario rules, providers made from JSON
 * targets, sending on a nested main loop, and a local server that keeps
 * the last request for the tests of its shape.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "sluice-test-util.h"

G_BEGIN_DECLS

/* ---- setup ---------------------------------------------------------------- */

/* After g_test_init(): finds the recorded samples of @samples_provider in
 * $SLUICE_SHARED_TESTDATA/provider-samples/ (NULL: the test needs none),
 * starts capturing logs and returns a new engine. Without the samples it
 * prints TAP's skip line and returns NULL: main() then returns 77. */
SluiceEngine   *sluice_test_provider_setup        (const char     *samples_provider);
/* Runs the tests (g_test_run()), then stops the mock and the log capture
 * and frees @engine and the samples' path; returns g_test_run()'s status. */
int             sluice_test_provider_run          (SluiceEngine   *engine);

/* ---- the recorded samples ------------------------------------------------- */

/* The contents of the recorded sample @name. */
char           *sluice_test_read_sample           (const char     *name);
/* Asserts that every file of the samples folder whose name starts with
 * @prefix ("" for all) has its row in @table: @n_rows rows of @row_size
 * bytes, each starting with its file name (a const char *). Returns how
 * many such files there are. */
guint           sluice_test_assert_samples_listed (const void     *table,
                                                   gsize           n_rows,
                                                   gsize           row_size,
                                                   const char     *prefix);

/* ---- the mock's scenario -------------------------------------------------- */

/* A scenario "status" step answering with @status, @body, @content_type
 * and @headers (a JSON object text); each but @status may be NULL. */
JsonNode       *sluice_test_status_step           (guint           status,
                                                   const char     *body,
                                                   const char     *content_type,
                                                   const char     *headers);
/* Adds a rule answering requests that hold @marker with @step (taken). */
void            sluice_test_add_rule              (JsonArray      *rules,
                                                   const char     *marker,
                                                   JsonNode       *step);
/* Starts the mock with the scenario text @scenario, wanting the key
 * @require_key (NULL: any); returns its base URL. */
char           *sluice_test_mock_start_scenario   (const char     *scenario,
                                                   const char     *require_key);
/* The same with the scenario {"rules": @rules}. */
char           *sluice_test_mock_start_rules      (JsonArray      *rules,
                                                   const char     *require_key);
/* The same, wanting no key, with one rule per (marker, step) pair; the
 * steps are taken. */
char           *sluice_test_mock_start_with_rules (const char     *first_marker,
                                                   ...) G_GNUC_NULL_TERMINATED;

/* ---- providers ------------------------------------------------------------ */

/* A @plugin provider configured with @target_json, or NULL with @error. */
SluiceProvider *sluice_test_provider_try          (SluiceEngine   *engine,
                                                   const char     *plugin,
                                                   const char     *target_json,
                                                   GError        **error);
/* Asserts that a @plugin provider refuses the target @target_json with
 * @code and @message, and that the message does not show @secret (NULL:
 * nothing to check). */
void            sluice_test_assert_config_refused (SluiceEngine   *engine,
                                                   const char     *plugin,
                                                   const char     *target_json,
                                                   SluiceErrorCode code,
                                                   const char     *message,
                                                   const char     *secret);
/* A @plugin provider configured with the target printf-formatted from
 * @target_format; asserts that it configures. */
SluiceProvider *sluice_test_provider_new          (SluiceEngine   *engine,
                                                   const char     *plugin,
                                                   const char     *target_format,
                                                   ...) G_GNUC_PRINTF (3, 4);

/* ---- sending -------------------------------------------------------------- */

/* A context whose messages are the (role, content) pairs, NULL-terminated. */
SluiceContext  *sluice_test_context_new           (const char     *first_role,
                                                   ...) G_GNUC_NULL_TERMINATED;

/* Where sluice_test_sent_cb() puts what a send ended with. */
typedef struct
{
  gboolean        done;
  SluiceResponse *response;
  GError         *error;
} SluiceTestSent;

/* A GAsyncReadyCallback for sluice_provider_send_async(); @user_data is a
 * SluiceTestSent. */
void            sluice_test_sent_cb               (GObject        *source,
                                                   GAsyncResult   *result,
                                                   gpointer        user_data);
/* Sends @context on a nested main loop; the response, or NULL with @error. */
SluiceResponse *sluice_test_send                  (SluiceProvider *provider,
                                                   SluiceContext  *context,
                                                   GCancellable   *cancellable,
                                                   GError        **error);
/* Sends @context; asserts that a response came. */
SluiceResponse *sluice_test_send_context          (SluiceProvider *provider,
                                                   SluiceContext  *context);
/* Sends the system prompt "Be brief." and @user_text. */
SluiceResponse *sluice_test_send_text             (SluiceProvider *provider,
                                                   const char     *user_text);

/* ---- what came back ------------------------------------------------------- */

/* Asserts that @response failed with @code after @http_status (0: none),
 * and, unless @message is NULL, with that message. */
void            sluice_test_assert_failed         (SluiceResponse *response,
                                                   SluiceErrorCode code,
                                                   guint           http_status,
                                                   const char     *message);
/* Fails the test, saying @where, if @text (may be NULL) holds @secret or
 * any of the further fragments of it (NULL-terminated). */
void            sluice_test_assert_no_secret      (const char     *where,
                                                   const char     *text,
                                                   const char     *secret,
                                                   ...) G_GNUC_NULL_TERMINATED;
/* Asserts that @node serializes as the JSON text @expected does. */
void            sluice_test_assert_json           (JsonNode       *node,
                                                   const char     *expected);

/* ---- a local server that keeps the last request --------------------------- */

typedef struct
{
  /* the last request */
  char               *method;
  char               *path;
  char               *query;
  SoupMessageHeaders *headers;
  char               *body;
  /* what sluice_test_capture_server_new()'s server answers, with 200 */
  const char         *reply_type;
  const char         *reply;
} SluiceTestCapture;

/* Keeps @msg's request in @capture, in place of the one before. */
void            sluice_test_capture_record        (SluiceTestCapture *capture,
                                                   SoupServerMessage *msg);
void            sluice_test_capture_clear         (SluiceTestCapture *capture);
/* The last request's body, a JSON object. */
JsonObject     *sluice_test_capture_body          (SluiceTestCapture *capture);

/* A server on a free loopback port whose requests go to @handler; its
 * URL with @path appended goes to @base_url. */
SoupServer     *sluice_test_server_new            (SoupServerCallback handler,
                                                   gpointer           user_data,
                                                   const char        *path,
                                                   char             **base_url);
/* A server that keeps every request in @capture and answers it with
 * @capture's reply. */
SoupServer     *sluice_test_capture_server_new    (SluiceTestCapture *capture,
                                                   const char        *path,
                                                   char             **base_url);

G_END_DECLS
