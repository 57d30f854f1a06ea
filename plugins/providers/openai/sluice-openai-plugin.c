/* sluice-openai-plugin.c — registers the 'openai' provider with libpeas.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <libpeas/peas.h>

#include "sluice-openai-provider.h"

G_MODULE_EXPORT void
peas_register_types (PeasObjectModule *module)
{
  peas_object_module_register_extension_type (module, SLUICE_TYPE_PROVIDER, SLUICE_TYPE_OPENAI_PROVIDER);
}
