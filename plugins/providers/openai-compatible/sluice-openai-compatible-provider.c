/* sluice-openai-compatible-provider.c — local and third-party servers that
 * copy OpenAI's chat completions (Ollama, vLLM, llama.cpp, LM Studio):
 * no key needed, base_url required, a stream may end at its finish
 * reason without [DONE]. The wire format is in
 * sluice-openai-wire.c, shared with the openai provider.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-openai-compatible-provider.h"
#include "sluice-openai-wire.h"

struct _SluiceOpenaiCompatibleProvider
{
  SluiceHttpProvider  parent_instance;

  SluiceOpenaiOptions options;
};

G_DEFINE_FINAL_TYPE (SluiceOpenaiCompatibleProvider, sluice_openai_compatible_provider, SLUICE_TYPE_HTTP_PROVIDER)

static gboolean
sluice_openai_compatible_provider_configure (SluiceHttpProvider  *provider,
                                  JsonObject          *target,
                                  GError             **error)
{
  SluiceOpenaiOptions *options = &SLUICE_OPENAI_COMPATIBLE_PROVIDER (provider)->options;

  if (!sluice_openai_configure (options, target, error))
    return FALSE;
  options->lenient = TRUE;
  return TRUE;
}

static SoupMessage *
sluice_openai_compatible_provider_build_message (SluiceHttpProvider  *provider,
                                      SluiceContext       *context,
                                      gboolean             stream,
                                      GError             **error)
{
  return sluice_openai_build_message (provider, &SLUICE_OPENAI_COMPATIBLE_PROVIDER (provider)->options,
                                      context, stream, error);
}

static gboolean
sluice_openai_compatible_provider_stream_event (SluiceHttpProvider *provider,
                                     SluiceHttpStream   *stream,
                                     const char         *event,
                                     const char         *data,
                                     gsize               data_len)
{
  return sluice_openai_stream_event (provider, &SLUICE_OPENAI_COMPATIBLE_PROVIDER (provider)->options,
                                     stream, data, data_len);
}

static void
sluice_openai_compatible_provider_finalize (GObject *object)
{
  sluice_openai_options_clear (&SLUICE_OPENAI_COMPATIBLE_PROVIDER (object)->options);

  G_OBJECT_CLASS (sluice_openai_compatible_provider_parent_class)->finalize (object);
}

static void
sluice_openai_compatible_provider_class_init (SluiceOpenaiCompatibleProviderClass *klass)
{
  SluiceHttpProviderClass *http_class = SLUICE_HTTP_PROVIDER_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = sluice_openai_compatible_provider_finalize;

  /* No default: which server it is, only the user knows. */
  http_class->default_base_url = NULL;
  http_class->api_key_required = FALSE;
  http_class->request_id_header = "x-request-id";
  http_class->configure = sluice_openai_compatible_provider_configure;
  http_class->build_message = sluice_openai_compatible_provider_build_message;
  http_class->parse_body = sluice_openai_parse_body;
  http_class->classify_error = sluice_openai_classify_error;
  http_class->stream_event = sluice_openai_compatible_provider_stream_event;
}

static void
sluice_openai_compatible_provider_init (SluiceOpenaiCompatibleProvider *self)
{
}
