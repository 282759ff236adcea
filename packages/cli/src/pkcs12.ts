export async function writePkcs12(): Promise<void> {}
