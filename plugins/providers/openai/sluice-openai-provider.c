/* sluice-openai-provider.c — the openai provider: OpenAI's chat
 * completions at api.openai.com. The wire format is in
 * sluice-openai-wire.c, shared with the openai-compatible provider.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-openai-provider.h"
#include "sluice-openai-wire.h"

struct _SluiceOpenaiProvider
{
  SluiceHttpProvider  parent_instance;

  SluiceOpenaiOptions options;
};

G_DEFINE_FINAL_TYPE (SluiceOpenaiProvider, sluice_openai_provider, SLUICE_TYPE_HTTP_PROVIDER)

static gboolean
sluice_openai_provider_configure (SluiceHttpProvider  *provider,
                                  JsonObject          *target,
                                  GError             **error)
{
  return sluice_openai_configure (&SLUICE_OPENAI_PROVIDER (provider)->options, target, error);
}

static SoupMessage *
sluice_openai_provider_build_message (SluiceHttpProvider  *provider,
                                      SluiceContext       *context,
                                      gboolean             stream,
                                      GError             **error)
{
  return sluice_openai_build_message (provider, &SLUICE_OPENAI_PROVIDER (provider)->options,
                                      context, stream, error);
}

static gboolean
sluice_openai_provider_stream_event (SluiceHttpProvider *provider,
                                     SluiceHttpStream   *stream,
                                     const char         *event,
                                     const char         *data,
                                     gsize               data_len)
{
  return sluice_openai_stream_event (provider, &SLUICE_OPENAI_PROVIDER (provider)->options,
                                     stream, data, data_len);
}

static void
sluice_openai_provider_finalize (GObject *object)
{
  sluice_openai_options_clear (&SLUICE_OPENAI_PROVIDER (object)->options);

  G_OBJECT_CLASS (sluice_openai_provider_parent_class)->finalize (object);
}

static void
sluice_openai_provider_class_init (SluiceOpenaiProviderClass *klass)
{
  SluiceHttpProviderClass *http_class = SLUICE_HTTP_PROVIDER_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = sluice_openai_provider_finalize;

  http_class->default_base_url = "https://api.openai.com/v1";
  http_class->api_key_required = TRUE;
  http_class->api_key_example = "${OPENAI_API_KEY}";
  http_class->request_id_header = "x-request-id";
  http_class->configure = sluice_openai_provider_configure;
  http_class->build_message = sluice_openai_provider_build_message;
  http_class->parse_body = sluice_openai_parse_body;
  http_class->classify_error = sluice_openai_classify_error;
  http_class->stream_event = sluice_openai_provider_stream_event;
}

static void
sluice_openai_provider_init (SluiceOpenaiProvider *self)
{
}
