/* sluice-gemini-plugin.c — registers the 'gemini' provider with libpeas.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <libpeas/peas.h>

#include "sluice-gemini-provider.h"

G_MODULE_EXPORT void
peas_register_types (PeasObjectModule *module)
{
  peas_object_module_register_extension_type (module, SLUICE_TYPE_PROVIDER, SLUICE_TYPE_GEMINI_PROVIDER);
}
