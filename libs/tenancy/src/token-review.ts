import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

export interface TokenReviewSettings {
  /** The Kubernetes API, e.g. https://kubernetes.default.svc. */
  apiUrl: string;
  /** The broker's own ServiceAccount token (read at every review: kubelet rotates projected tokens). */
  tokenFile: string;
  /** CA bundle of the API; a missing file means the system's CAs. */
  caFile: string;
  /** Audiences the reviewed token must be for; empty: the API server's own. */
  audiences: readonly string[];
}

/** A reviewed token's user: `system:serviceaccount:<namespace>:<name>` for a ServiceAccount. */
export interface ReviewedUser {
  username: string;
  namespace?: string;
  serviceAccount?: string;
}

/** `authentication.k8s.io/v1` TokenReview, as the API server answers it. */
interface TokenReview {
  status?: { authenticated?: boolean; user?: { username?: string }; audiences?: string[]; error?: string };
}

/** Why a review could not be made (API unreachable, refused the broker's own token, …): not an answer about the token. */
export class TokenReviewUnavailable extends Error {}

const SERVICE_ACCOUNT = /^system:serviceaccount:([^:]+):([^:]+)$/;

/** Asks the Kubernetes API whether a bearer token is valid (POST /apis/authentication.k8s.io/v1/tokenreviews). */
export class KubernetesTokenReview {
  private ca: Buffer | undefined | null = null;

  constructor(private readonly settings: TokenReviewSettings) {}

  /** The token's user when the API says it is authenticated (for our audiences), else undefined. */
  async review(token: string): Promise<ReviewedUser | undefined> {
    const body = JSON.stringify({
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, ...(this.settings.audiences.length > 0 ? { audiences: this.settings.audiences } : {}) },
    });
    const answer = await this.post('/apis/authentication.k8s.io/v1/tokenreviews', body);
    const status = answer.status;
    if (!status?.authenticated || !status.user?.username) return undefined;
    if (this.settings.audiences.length > 0 && !status.audiences?.some((a) => this.settings.audiences.includes(a))) return undefined;
    const match = SERVICE_ACCOUNT.exec(status.user.username);
    return { username: status.user.username, ...(match ? { namespace: match[1]!, serviceAccount: match[2]! } : {}) };
  }

  private post(path: string, body: string): Promise<TokenReview> {
    const url = new URL(path, this.settings.apiUrl);
    let ownToken: string;
    try {
      ownToken = readFileSync(this.settings.tokenFile, 'utf8').trim();
    } catch (error) {
      return Promise.reject(new TokenReviewUnavailable(`cannot read AUTH_K8S_TOKEN_FILE: ${(error as Error).message}`));
    }
    if (this.ca === null) this.ca = existsSync(this.settings.caFile) ? readFileSync(this.settings.caFile) : undefined;
    const options = {
      method: 'POST',
      headers: { authorization: `Bearer ${ownToken}`, 'content-type': 'application/json', accept: 'application/json' },
      timeout: 5_000,
      ...(url.protocol === 'https:' && this.ca ? { ca: this.ca } : {}),
    };
    return new Promise((resolve, reject) => {
      const request = (url.protocol === 'https:' ? https : http).request(url, options, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (c: Buffer) => chunks.push(c));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (response.statusCode !== 200 && response.statusCode !== 201) {
            return reject(new TokenReviewUnavailable(`TokenReview answered ${response.statusCode}: ${text.slice(0, 200)}`));
          }
          try {
            resolve(JSON.parse(text) as TokenReview);
          } catch {
            reject(new TokenReviewUnavailable('TokenReview answered with no JSON'));
          }
        });
        response.on('error', (error) => reject(new TokenReviewUnavailable(error.message)));
      });
      request.on('timeout', () => request.destroy(new Error('timed out')));
      request.on('error', (error) => reject(new TokenReviewUnavailable(`TokenReview failed: ${error.message}`)));
      request.end(body);
    });
  }
}
