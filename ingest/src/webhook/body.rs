//! Reading a request body with a hard size bound: a declared `content-length` over the limit is
//! refused before reading, and a chunked body is cut off as soon as it passes the limit.

use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;

#[derive(Debug)]
pub enum BodyError {
    TooLarge,
    Broken(String),
}

/// Reads `stream` whole, refusing it as soon as it is known to be larger than `limit`.
pub async fn collect<S, B>(
    declared: Option<u64>,
    stream: S,
    limit: usize,
) -> Result<Bytes, BodyError>
where
    S: futures::Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut stream = Box::pin(stream);
    let mut body = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|e| BodyError::Broken(e.to_string()))?;
        if body.len() + chunk.remaining() > limit {
            return Err(BodyError::TooLarge);
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            body.extend_from_slice(part);
            chunk.advance(n);
        }
    }
    Ok(body.freeze())
}
