/* sluice-provider.h — the extension point for one provider wire protocol.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (SLUICE_INSIDE) && !defined (SLUICE_COMPILATION)
# error "Only <sluice.h> can be included directly."
#endif

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "sluice-context.h"
#include "sluice-response.h"

G_BEGIN_DECLS

#define SLUICE_TYPE_PROVIDER (sluice_provider_get_type ())
G_DECLARE_INTERFACE (SluiceProvider, sluice_provider, SLUICE, PROVIDER, GObject)

/**
 * SluiceProviderInterface:
 * @configure: read one target (`provider`, `model`, `base_url`, `api_key`,
 *   parameters); called once per target
 * @send_async: send the context's messages to the target over HTTP
 * @send_finish: finish @send_async
 *
 * A provider speaks one wire protocol. @send_finish returns a
 * #SluiceResponse for every HTTP outcome — a failure is a response whose
 * error is set and classified into a %SLUICE_ERROR kind with the
 * provider's retry-after hint. It returns %NULL (with @error) only when it
 * could not even try, or when @cancellable was cancelled.
 * Timeouts and retries belong to the caller (the `call` stage), which
 * cancels @cancellable when an attempt's time is up.
 */
struct _SluiceProviderInterface
{
  GTypeInterface parent_iface;

  gboolean        (*configure)   (SluiceProvider       *self,
                                  JsonObject           *target,
                                  GError              **error);
  void            (*send_async)  (SluiceProvider       *self,
                                  SluiceContext        *context,
                                  GCancellable         *cancellable,
                                  GAsyncReadyCallback   callback,
                                  gpointer              user_data);
  SluiceResponse *(*send_finish) (SluiceProvider       *self,
                                  GAsyncResult         *result,
                                  GError              **error);
  JsonObject     *(*render_request) (SluiceProvider    *self,
                                     SluiceContext     *context,
                                     GError           **error);

  /*< private >*/
  gpointer padding[7];
};

/**
 * sluice_provider_configure:
 * @self: a #SluiceProvider
 * @target: (transfer none): the target block
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the target is usable
 */
gboolean        sluice_provider_configure   (SluiceProvider       *self,
                                             JsonObject           *target,
                                             GError              **error);
/**
 * sluice_provider_send_async:
 * @self: a #SluiceProvider
 * @context: the request (its messages are sent)
 * @cancellable: (nullable): cancelled when the attempt's time is up
 * @callback: (scope async): called when done
 * @user_data: (closure): data for @callback
 */
void            sluice_provider_send_async  (SluiceProvider       *self,
                                             SluiceContext        *context,
                                             GCancellable         *cancellable,
                                             GAsyncReadyCallback   callback,
                                             gpointer              user_data);
/**
 * sluice_provider_send_finish:
 * @self: a #SluiceProvider
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the response, successful or classified
 */
SluiceResponse *sluice_provider_send_finish (SluiceProvider       *self,
                                             GAsyncResult         *result,
                                             GError              **error);
/**
 * sluice_provider_render_request:
 * @context: the request, as the call stage would send it
 *
 * The request @self would send for @context, without sending it:
 * `{"method", "url", "headers", "body"}`, with every credential replaced
 * by `[secret]`. For `sluice snapshot`.
 *
 * Returns: (transfer full) (nullable): the request, or %NULL with @error
 *   set (%SLUICE_ERROR_NOT_IMPLEMENTED for a provider that cannot)
 */
JsonObject     *sluice_provider_render_request (SluiceProvider    *self,
                                                SluiceContext     *context,
                                                GError           **error);

G_END_DECLS
