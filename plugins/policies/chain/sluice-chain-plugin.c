/* sluice-chain-plugin.c — registers the 'chain' fallback policy with libpeas.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <libpeas/peas.h>

#include "sluice-chain-policy.h"

G_MODULE_EXPORT void
peas_register_types (PeasObjectModule *module)
{
  peas_object_module_register_extension_type (module, SLUICE_TYPE_FALLBACK_POLICY, SLUICE_TYPE_CHAIN_POLICY);
}
