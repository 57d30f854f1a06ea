/* sluice-route-plugin.c — registers the 'route' fallback policy with libpeas.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <libpeas/peas.h>

#include "sluice-route-policy.h"

G_MODULE_EXPORT void
peas_register_types (PeasObjectModule *module)
{
  peas_object_module_register_extension_type (module, SLUICE_TYPE_FALLBACK_POLICY, SLUICE_TYPE_ROUTE_POLICY);
}
