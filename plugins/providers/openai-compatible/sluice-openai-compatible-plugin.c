/* sluice-openai-compatible-plugin.c — registers the 'openai-compatible' provider with libpeas.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <libpeas/peas.h>

#include "sluice-openai-compatible-provider.h"

G_MODULE_EXPORT void
peas_register_types (PeasObjectModule *module)
{
  peas_object_module_register_extension_type (module, SLUICE_TYPE_PROVIDER, SLUICE_TYPE_OPENAI_COMPATIBLE_PROVIDER);
}
