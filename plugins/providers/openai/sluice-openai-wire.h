/* sluice-openai-wire.h — the OpenAI chat-completions wire format, shared by
 * the openai and openai-compatible providers (two plugins, two types, one
 * format).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

typedef struct
{
  char       *organization;
  JsonObject *parameters;  /* copied into every request body */
  /* Local servers: finish_reason ends a stream that never sends [DONE]. */
  gboolean    lenient;
} SluiceOpenaiOptions;

void            sluice_openai_options_clear (SluiceOpenaiOptions *options);

gboolean        sluice_openai_configure      (SluiceOpenaiOptions  *options,
                                              JsonObject           *target,
                                              GError              **error);
SoupMessage    *sluice_openai_build_message  (SluiceHttpProvider   *provider,
                                              SluiceOpenaiOptions  *options,
                                              SluiceContext        *context,
                                              gboolean              stream,
                                              GError              **error);
void            sluice_openai_parse_body     (SluiceHttpProvider   *provider,
                                              SluiceResponse       *response,
                                              JsonNode             *root);
SluiceErrorCode sluice_openai_classify_error (SluiceHttpProvider   *provider,
                                              guint                 status,
                                              SoupMessageHeaders   *headers,
                                              JsonNode             *root,
                                              SluiceErrorCode       default_code,
                                              char                **out_message,
                                              gint64               *inout_retry_after_ms);
gboolean        sluice_openai_stream_event   (SluiceHttpProvider   *provider,
                                              SluiceOpenaiOptions  *options,
                                              SluiceHttpStream     *stream,
                                              const char           *data,
                                              gsize                 data_len);

G_END_DECLS
