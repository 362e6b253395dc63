/** Choosing an image of an index / manifest list by platform. */
import type { Descriptor, Platform } from './oci.js';

/** The manifest for platform p (variant optional), or undefined. */
export function pickPlatform(manifests: readonly Descriptor[], p: Platform): Descriptor | undefined {
  const cands = manifests.filter((m) => m.platform && m.platform.os === p.os && m.platform.architecture === p.architecture);
  if (p.variant) return cands.find((m) => m.platform?.variant === p.variant);
  return cands.find((m) => !m.platform?.variant) ?? cands[0];
}
