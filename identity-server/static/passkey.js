// Passkeys on the identity server's pages, against the Authsignal Client API named in the page's
// data- attributes (the paths and JSON fields the official Web SDK uses):
// - the login page (#passkey): a conditional ("autofill") WebAuthn request as soon as the page
//   loads, and a "Sign in with a passkey" button for a modal one. The challenge names the
//   page's action and the idempotency key of this browser's passkey login transaction; the
//   resulting token is POSTed with the CSRF token to /Account/Login/Passkey, never put in a URL.
// - the add page (#passkey-add): creates a passkey with the track token and POSTs the result
//   token to /Account/Passkeys/Added.
// The site's only script: our own, same-origin, no inline code, no third-party bundle. The pages
// work without it (the password form is plain HTML); on the login page a rejection or "no
// passkey" stays silent.
(() => {
  'use strict';

  if (typeof window.PublicKeyCredential !== 'function' || !navigator.credentials) {
    return;
  }

  const toBytes = (text) => {
    const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  };

  const fromBytes = (buffer) => {
    let binary = '';
    new Uint8Array(buffer).forEach((b) => {
      binary += String.fromCharCode(b);
    });
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };

  const withIds = (list) => (list || []).map((c) => Object.assign({}, c, { id: toBytes(c.id) }));

  // The browser's own JSON helpers where it has them, the same conversion by hand otherwise.
  const requestOptions = (json) => {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function') {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      allowCredentials: withIds(json.allowCredentials),
    });
  };

  const creationOptions = (json) => {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function') {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      user: Object.assign({}, json.user, { id: toBytes(json.user.id) }),
      excludeCredentials: withIds(json.excludeCredentials),
    });
  };

  const credentialJSON = (credential) => {
    if (typeof credential.toJSON === 'function') {
      return credential.toJSON();
    }
    const r = credential.response;
    const response = { clientDataJSON: fromBytes(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = fromBytes(r.attestationObject);
      response.transports = typeof r.getTransports === 'function' ? r.getTransports() : [];
    } else {
      response.authenticatorData = fromBytes(r.authenticatorData);
      response.signature = fromBytes(r.signature);
      if (r.userHandle) {
        response.userHandle = fromBytes(r.userHandle);
      }
    }
    return {
      id: credential.id,
      rawId: fromBytes(credential.rawId),
      type: credential.type,
      response,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
    };
  };

  // One Client API call: JSON in and out; an error answer throws with its errorCode.
  const call = async (base, path, authorization, body) => {
    const response = await fetch(base + '/client' + path, {
      method: 'POST',
      mode: 'cors',
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
      headers: { 'Content-Type': 'application/json', Authorization: authorization },
      body: JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok || !data) {
      const error = new Error('the passkey service refused the request');
      error.code = data ? data.errorCode || data.error : undefined;
      throw error;
    }
    return data;
  };

  // A rejection that is the user's or the authenticator's answer, not a fault: never shown.
  const isQuiet = (error) =>
    !!error &&
    (error.name === 'NotAllowedError' ||
      error.name === 'AbortError' ||
      error.code === 'unknown_credential');

  // Sign in: challenge (action + idempotency key), options, the WebAuthn request, verify.
  // Each challenge answers once, so every attempt starts with a new one.
  const signIn = async (config, mediation, signal) => {
    const basic = 'Basic ' + btoa(encodeURIComponent(config.tenantId));
    const { challengeId } = await call(config.clientApiUrl, '/challenge', basic, {
      action: config.action,
      idempotencyKey: config.idempotencyKey,
    });
    const { options } = await call(
      config.clientApiUrl,
      '/user-authenticators/passkey/authentication-options',
      basic,
      { challengeId },
    );
    const request = { publicKey: requestOptions(options) };
    if (mediation) {
      request.mediation = mediation;
    }
    if (signal) {
      request.signal = signal;
    }
    const credential = await navigator.credentials.get(request);
    if (!credential) {
      return null;
    }
    try {
      const verified = await call(config.clientApiUrl, '/verify/passkey', basic, {
        authenticationCredential: credentialJSON(credential),
        challengeId,
      });
      return verified.isVerified && verified.accessToken ? verified.accessToken : null;
    } catch (error) {
      // A passkey the service no longer knows (removed): let the password manager forget it.
      if (
        error.code === 'unknown_credential' &&
        typeof PublicKeyCredential.signalUnknownCredential === 'function'
      ) {
        PublicKeyCredential.signalUnknownCredential({
          rpId: options.rpId,
          credentialId: credential.id,
        }).catch(() => {});
      }
      throw error;
    }
  };

  const startLogin = (root) => {
    const config = root.dataset;
    const form = document.getElementById('passkey-form');
    const tokenField = document.getElementById('passkey-token');
    const rememberField = document.getElementById('passkey-remember');
    const rememberBox = document.getElementById('remember');
    const button = document.getElementById('passkey-signin');
    const status = document.getElementById('passkey-status');
    if (!form || !tokenField || !button) {
      return;
    }
    let conditional = null;
    let submitted = false;

    const finish = (token) => {
      if (!token || submitted) {
        return;
      }
      submitted = true;
      if (conditional) {
        conditional.abort();
      }
      tokenField.value = token;
      if (rememberField) {
        rememberField.value = rememberBox && rememberBox.checked ? 'true' : '';
      }
      form.submit();
    };

    const autofill = async () => {
      const available =
        typeof PublicKeyCredential.isConditionalMediationAvailable === 'function' &&
        (await PublicKeyCredential.isConditionalMediationAvailable());
      if (!available) {
        return;
      }
      const controller = new AbortController();
      conditional = controller;
      try {
        finish(await signIn(config, 'conditional', controller.signal));
      } catch (_) {
        // No passkey offered or chosen, cancelled, or refused: the password form is still there.
      } finally {
        if (conditional === controller) {
          conditional = null;
        }
      }
    };

    button.addEventListener('click', async () => {
      if (conditional) {
        conditional.abort();
        conditional = null;
      }
      button.disabled = true;
      status.textContent = '';
      try {
        finish(await signIn(config));
      } catch (error) {
        if (!isQuiet(error)) {
          status.textContent =
            'The passkey sign-in did not work. Sign in with your password instead.';
        }
      } finally {
        button.disabled = submitted;
      }
    });
    root.hidden = false;
    autofill().catch(() => {});
  };

  const startAdd = (root) => {
    const config = root.dataset;
    const form = document.getElementById('passkey-added-form');
    const tokenField = document.getElementById('passkey-token');
    const button = document.getElementById('passkey-create');
    const status = document.getElementById('passkey-status');
    if (!form || !tokenField || !button) {
      return;
    }
    button.addEventListener('click', async () => {
      button.disabled = true;
      status.textContent = 'Follow the instructions of your browser.';
      const bearer = 'Bearer ' + config.token;
      try {
        const { challengeId, options } = await call(
          config.clientApiUrl,
          '/user-authenticators/passkey/registration-options',
          bearer,
          { username: config.username, displayName: config.displayName },
        );
        const credential = await navigator.credentials.create({
          publicKey: creationOptions(options),
        });
        const added = await call(config.clientApiUrl, '/user-authenticators/passkey', bearer, {
          registrationCredential: credentialJSON(credential),
          challengeId,
        });
        if (!added.isVerified || !added.accessToken) {
          throw new Error('the passkey was not verified');
        }
        status.textContent = 'Passkey created. Saving…';
        tokenField.value = added.accessToken;
        form.submit();
      } catch (error) {
        if (error && error.name === 'NotAllowedError') {
          status.textContent = 'No passkey was created.';
        } else if (error && error.name === 'InvalidStateError') {
          status.textContent = 'This device already holds a passkey for your account.';
        } else {
          status.textContent = 'The passkey could not be created. Please try again.';
        }
        button.disabled = false;
      }
    });
    root.hidden = false;
  };

  const login = document.getElementById('passkey');
  if (login) {
    startLogin(login);
  }
  const add = document.getElementById('passkey-add');
  if (add) {
    startAdd(add);
  }
})();
