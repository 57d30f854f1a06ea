/* sluice-openai-provider.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_OPENAI_PROVIDER (sluice_openai_provider_get_type ())
G_DECLARE_FINAL_TYPE (SluiceOpenaiProvider, sluice_openai_provider, SLUICE, OPENAI_PROVIDER, SluiceHttpProvider)

G_END_DECLS
