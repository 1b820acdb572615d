/**
 * Sealed inference (`POST /v2/models/{name}[/versions/{v}]/infer`): the body, read within the host's budgets, is
 * relayed to the enclave as it came, and the enclave's sealed answer relayed back. The host cannot read either.
 */
import type { RequestHandler } from 'express'
import { KEY_ID_HEADER, KID_PATTERN, MAX_LINK_MODEL_NAME, MAX_LINK_MODEL_VERSION, SEALED_MEDIA_TYPE, type LinkResult } from '@vouch/protocol'
import { hop } from '@vouch/protocol/hop-trace'
import { HostError } from '../errors.js'
import { locals } from '../http/locals.js'
import type { RoutedEnclave } from '../fleet/pool.js'
import { asBuffer, requireLink, withRequestSignal, type RouteDeps, type RouteRegistrar } from '../http/router.js'

function isMediaType(header: string | undefined, type: string): boolean {
  return header !== undefined && header.split(';', 1)[0]!.trim().toLowerCase() === type
}

/** The response header naming the index of the answer's receipt in the receipt log. */
export const LOG_INDEX_HEADER = 'Vouch-Log-Index'

export function registerInferRoutes(route: RouteRegistrar, { link, bodies, clientOf, receiptLog }: Pick<RouteDeps, 'link' | 'bodies' | 'clientOf' | 'receiptLog'>): void {
  const infer: RequestHandler = async (req, res) => {
    const { name, version } = req.params as { name: string; version?: string }
    if (!isMediaType(req.headers['content-type'], SEALED_MEDIA_TYPE)) throw new HostError('ERR_HOST_UNSUPPORTED_MEDIA_TYPE')
    const encoding = req.headers['content-encoding']
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') throw new HostError('ERR_HOST_UNSUPPORTED_MEDIA_TYPE')
    const kid = req.get(KEY_ID_HEADER)
    if (kid === undefined || !KID_PATTERN.test(kid)) throw new HostError('ERR_HOST_KEY_ID_INVALID')
    if (name.length > MAX_LINK_MODEL_NAME || (version !== undefined && version.length > MAX_LINK_MODEL_VERSION)) throw new HostError('ERR_HOST_MODEL_NOT_FOUND')
    requireLink(link)
    const options = withRequestSignal(res)
    // Null for a chunked body: it may be as large as the limit.
    const declared = req.headers['content-length'] === undefined ? null : Number(req.headers['content-length'])
    if (declared !== null && !(declared >= 0)) throw new HostError('ERR_HOST_BAD_REQUEST')
    const { body, release } = await bodies.read(req, clientOf(req), declared, options.signal)
    hop('receive')
    let answer: LinkResult<'infer'> | undefined
    // Only the enclave holding the key can open the request: it goes there or nowhere.
    let enclave: RoutedEnclave | undefined
    try {
      if (body.length === 0) throw new HostError('ERR_HOST_BAD_REQUEST', { cause: new Error('empty body') })
      enclave = await link.route(kid)
      answer = await enclave.link.request('infer', { kid, model: name, version: version ?? null, body }, options)
      hop('enclave (link round trip)')
    } catch (error) {
      // It began draining since its last ping: route nothing more to it.
      if (enclave !== undefined && (error as { code?: string }).code === 'ERR_ENCLAVE_DRAINING') enclave.draining = true
      throw error
    } finally {
      // Answered, the enclave has read all of the body: its buffer can take the next one.
      release(answer !== undefined)
    }
    // The enclave answered 2xx for this name, so it is a real model (a bounded label). `answer.receipt` is the receipt
    // sealed inside the answer, relayed beside it for the receipt log (a v2 receipt: its commitments reveal nothing of
    // the request or the answer); the HTTP response is the sealed body alone.
    locals(res).model = name
    // Logged (with the evidence it names, once) and covered by a signed checkpoint before it is relayed: an answer the
    // log could not take is not relayed (503), so the operator can refuse to log but never hide an answer it gave.
    const index =
      receiptLog === null
        ? null
        : await receiptLog.logAnswer(answer.receipt, (digest) => enclave!.evidence(digest, options))
    hop('receipt log')
    if (res.headersSent) return
    if (index !== null) res.set(LOG_INDEX_HEADER, String(index))
    res.status(200).set('Content-Type', SEALED_MEDIA_TYPE).set('Cache-Control', 'no-store').send(asBuffer(answer.body))
  }
  route('/v2/models/:name/infer', { post: infer })
  route('/v2/models/:name/versions/:version/infer', { post: infer })
}
