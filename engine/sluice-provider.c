/* sluice-provider.c — the SluiceProvider interface and its invokers.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-provider"

#include "sluice.h"

G_DEFINE_INTERFACE (SluiceProvider, sluice_provider, G_TYPE_OBJECT)

static gboolean
sluice_provider_real_configure (SluiceProvider  *self,
                                JsonObject      *target,
                                GError         **error)
{
  return TRUE;
}

static void
sluice_provider_real_send_async (SluiceProvider      *self,
                                 SluiceContext       *context,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_task_report_new_error (self, callback, user_data, sluice_provider_real_send_async,
                           SLUICE_ERROR, SLUICE_ERROR_NOT_IMPLEMENTED,
                           "provider %s does not implement send_async",
                           G_OBJECT_TYPE_NAME (self));
}

static SluiceResponse *
sluice_provider_real_send_finish (SluiceProvider  *self,
                                  GAsyncResult    *result,
                                  GError         **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
sluice_provider_default_init (SluiceProviderInterface *iface)
{
  iface->configure = sluice_provider_real_configure;
  iface->send_async = sluice_provider_real_send_async;
  iface->send_finish = sluice_provider_real_send_finish;
}

gboolean
sluice_provider_configure (SluiceProvider  *self,
                           JsonObject      *target,
                           GError         **error)
{
  GError *local_error = NULL;

  g_return_val_if_fail (SLUICE_IS_PROVIDER (self), FALSE);

  if (SLUICE_PROVIDER_GET_IFACE (self)->configure (self, target, &local_error))
    return TRUE;
  if (local_error == NULL)
    local_error = g_error_new (SLUICE_ERROR, SLUICE_ERROR_FAILED,
                               "provider %s rejected its target without an error",
                               G_OBJECT_TYPE_NAME (self));
  g_propagate_error (error, local_error);
  return FALSE;
}

void
sluice_provider_send_async (SluiceProvider      *self,
                            SluiceContext       *context,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_return_if_fail (SLUICE_IS_PROVIDER (self));
  g_return_if_fail (SLUICE_IS_CONTEXT (context));

  SLUICE_PROVIDER_GET_IFACE (self)->send_async (self, context, cancellable, callback, user_data);
}

SluiceResponse *
sluice_provider_send_finish (SluiceProvider  *self,
                             GAsyncResult    *result,
                             GError         **error)
{
  GError *local_error = NULL;
  SluiceResponse *response;

  g_return_val_if_fail (SLUICE_IS_PROVIDER (self), NULL);

  response = SLUICE_PROVIDER_GET_IFACE (self)->send_finish (self, result, &local_error);
  if (response != NULL)
    return response;
  if (local_error == NULL)
    local_error = g_error_new (SLUICE_ERROR, SLUICE_ERROR_FAILED,
                               "provider %s returned no response and no error "
                               "(an unhandled exception in a language binding?)",
                               G_OBJECT_TYPE_NAME (self));
  g_propagate_error (error, local_error);
  return NULL;
}

JsonObject *
sluice_provider_render_request (SluiceProvider  *self,
                                SluiceContext   *context,
                                GError         **error)
{
  SluiceProviderInterface *iface;
  GError *local_error = NULL;
  JsonObject *request;

  g_return_val_if_fail (SLUICE_IS_PROVIDER (self), NULL);
  g_return_val_if_fail (SLUICE_IS_CONTEXT (context), NULL);

  iface = SLUICE_PROVIDER_GET_IFACE (self);
  if (iface->render_request == NULL)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_NOT_IMPLEMENTED,
                   "provider %s cannot show its request without sending it", G_OBJECT_TYPE_NAME (self));
      return NULL;
    }
  request = iface->render_request (self, context, &local_error);
  if (request == NULL && local_error == NULL)
    local_error = g_error_new (SLUICE_ERROR, SLUICE_ERROR_FAILED,
                               "provider %s rendered no request and no error", G_OBJECT_TYPE_NAME (self));
  if (local_error != NULL)
    g_propagate_error (error, local_error);
  return request;
}
