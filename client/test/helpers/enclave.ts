/**
 * A real enclave in this process, served over its Unix socket as `vouch-enclave` serves it (simulated
 * TEE and GPU), but with a generous attestation rate: the client's tests attest far more often than a
 * client would, and the default limit (10, then 2 per second) would make them wait.
 */
import { fileURLToPath } from 'node:url'
import { createCpuTee, createGpuTee } from '@vouch/enclave'
import { startLinkServer } from '../../../enclave/src/link/server.js'
import { createLogger } from '../../../enclave/src/logger.js'
import { EnclaveService } from '../../../enclave/src/service/enclave.js'

const MODELS_DIR = fileURLToPath(new URL('../../../models', import.meta.url))

/** Starts an enclave serving `socket`; resolves to a function that stops it. */
export async function startEnclave(socket: string, modelsDir = MODELS_DIR): Promise<() => Promise<void>> {
  const log = createLogger('silent')
  const cpu = await createCpuTee('simulated')
  const gpu = await createGpuTee('simulated')
  const service = await EnclaveService.create({ cpu, gpu, modelsDir, log, attestRate: { burst: 1000, perSecond: 1000 } })
  await service.attest({ nonce: null })
  const server = await startLinkServer(socket, service, log)
  return async () => {
    await server.close()
    await service.close()
    await gpu.close()
    await cpu.close()
  }
}
