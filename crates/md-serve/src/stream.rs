//! A client's stream of summaries: the current book first, then every newer one it gets to
//! (a `watch` receiver: a slow reader skips to the newest state, counted).

use futures::Stream;

use crate::hub::{BookView, ClientStream};

/// The summaries of one client, converted by `shape`; ends when the topic is gone.
pub fn summaries<T: Send + 'static>(
    client: ClientStream,
    shape: fn(&BookView, usize) -> T,
) -> impl Stream<Item = T> + Send + 'static {
    futures::stream::unfold((client, true), move |(mut client, first)| async move {
        if !first && client.receiver.changed().await.is_err() {
            return None;
        }
        let view = std::sync::Arc::clone(&client.receiver.borrow_and_update());
        client.guard.sent(&view);
        let item = shape(&view, client.depth);
        Some((item, (client, false)))
    })
}
