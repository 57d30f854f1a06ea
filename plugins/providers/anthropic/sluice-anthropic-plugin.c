/* sluice-anthropic-plugin.c — registers the 'anthropic' provider with libpeas.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <libpeas/peas.h>

#include "sluice-anthropic-provider.h"

G_MODULE_EXPORT void
peas_register_types (PeasObjectModule *module)
{
  peas_object_module_register_extension_type (module, SLUICE_TYPE_PROVIDER, SLUICE_TYPE_ANTHROPIC_PROVIDER);
}
