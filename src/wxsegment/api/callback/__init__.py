"""WeChat callbacks: verify, decrypt, parse and deduplicate what WeChat pushes; reply.

The flow for one POST (see ``docs/callbacks.md``)::

    verify_signature / MessageCrypto.decrypt  ->  parse  ->  Deduplicator.seen  ->  reply

`CallbackHandler` runs that flow (plus freshness, replay and account checks, dispatch to
registered handlers and passive replies) behind one ``handle(method, query, body)``;
`asgi_app` and `wsgi_app` serve it.

Errors, all ``ValueError`` subclasses (the request is bad, not the program)::

    CallbackError(ValueError)
    ├── SignatureError          signature or msg_signature does not match
    │   ├── StaleRequest        signed timestamp further from now than max_age
    │   └── ReplayedRequest     nonce + timestamp + signature reused for another push
    ├── DecryptError            not base64, truncated, bad padding, not UTF-8
    │   └── AppIdMismatch       decrypted, but sealed for another AppID
    ├── WrongAccount            ToUserName is not the endpoint's account
    └── CallbackParseError      malformed or unsafe XML (DTD, entity), missing or bad field
        └── PayloadTooLarge     body over the size limit, refused before parsing

Misuse (a wrong argument type, a malformed EncodingAESKey, a naive datetime) raises plain
``TypeError``/``ValueError``. Secrets (token, keys) never appear in reprs or messages.
"""

from __future__ import annotations

from wxsegment.api.callback._adapters import asgi_app, wsgi_app
from wxsegment.api.callback._crypto import BLOCK_SIZE, Decrypted, MessageCrypto
from wxsegment.api.callback._dedup import (
    DEFAULT_WINDOW,
    Deduplicator,
    DedupStore,
    MemoryDedupStore,
    RedisDedupStore,
    SQLiteDedupStore,
    dedup_key,
)
from wxsegment.api.callback._errors import (
    AppIdMismatch,
    CallbackError,
    CallbackParseError,
    DecryptError,
    PayloadTooLarge,
    ReplayedRequest,
    SignatureError,
    StaleRequest,
    WrongAccount,
)
from wxsegment.api.callback._handler import (
    DEFAULT_MAX_AGE,
    DEFAULT_REPLY_TIMEOUT,
    CallbackHandler,
    CallbackResponse,
    Executor,
    PushHandler,
    Renderable,
)
from wxsegment.api.callback._messages import (
    QR_SCENE_PREFIX,
    ClickEvent,
    Event,
    ImageMessage,
    LinkMessage,
    LocationEvent,
    LocationMessage,
    LocationSelectEvent,
    MassSendJobFinishEvent,
    Message,
    PicEvent,
    PicPhotoOrAlbumEvent,
    PicSysPhotoEvent,
    PicWeixinEvent,
    PublishJobFinishEvent,
    ScanCodeEvent,
    ScanCodePushEvent,
    ScanCodeWaitMsgEvent,
    ScanEvent,
    ShortVideoMessage,
    SubscribeEvent,
    SubscribeMsgChangeEvent,
    SubscribeMsgChoice,
    SubscribeMsgPopupEvent,
    SubscribeMsgSent,
    SubscribeMsgSentEvent,
    TemplateSendJobFinishEvent,
    TextMessage,
    UnknownEvent,
    UnknownMessage,
    UnsubscribeEvent,
    VideoMessage,
    ViewEvent,
    VoiceMessage,
    parse,
)
from wxsegment.api.callback._reply import (
    MAX_NEWS_ARTICLES,
    SUCCESS,
    Article,
    NewsReply,
    TextReply,
)
from wxsegment.api.callback._signature import echostr_response, sign, verify_signature
from wxsegment.api.callback._xml import DEFAULT_MAX_SIZE, FieldValue

__all__ = [
    "BLOCK_SIZE",
    "DEFAULT_MAX_AGE",
    "DEFAULT_MAX_SIZE",
    "DEFAULT_REPLY_TIMEOUT",
    "DEFAULT_WINDOW",
    "MAX_NEWS_ARTICLES",
    "QR_SCENE_PREFIX",
    "SUCCESS",
    "AppIdMismatch",
    "Article",
    "CallbackError",
    "CallbackHandler",
    "CallbackParseError",
    "CallbackResponse",
    "ClickEvent",
    "DecryptError",
    "Decrypted",
    "DedupStore",
    "Deduplicator",
    "Event",
    "Executor",
    "FieldValue",
    "ImageMessage",
    "LinkMessage",
    "LocationEvent",
    "LocationMessage",
    "LocationSelectEvent",
    "MassSendJobFinishEvent",
    "MemoryDedupStore",
    "Message",
    "MessageCrypto",
    "NewsReply",
    "PayloadTooLarge",
    "PicEvent",
    "PicPhotoOrAlbumEvent",
    "PicSysPhotoEvent",
    "PicWeixinEvent",
    "PublishJobFinishEvent",
    "PushHandler",
    "RedisDedupStore",
    "Renderable",
    "ReplayedRequest",
    "SQLiteDedupStore",
    "ScanCodeEvent",
    "ScanCodePushEvent",
    "ScanCodeWaitMsgEvent",
    "ScanEvent",
    "ShortVideoMessage",
    "SignatureError",
    "StaleRequest",
    "SubscribeEvent",
    "SubscribeMsgChangeEvent",
    "SubscribeMsgChoice",
    "SubscribeMsgPopupEvent",
    "SubscribeMsgSent",
    "SubscribeMsgSentEvent",
    "TemplateSendJobFinishEvent",
    "TextMessage",
    "TextReply",
    "UnknownEvent",
    "UnknownMessage",
    "UnsubscribeEvent",
    "VideoMessage",
    "ViewEvent",
    "VoiceMessage",
    "WrongAccount",
    "asgi_app",
    "dedup_key",
    "echostr_response",
    "parse",
    "sign",
    "verify_signature",
    "wsgi_app",
]
