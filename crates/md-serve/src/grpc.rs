//! The gRPC service `orderbook.Aggregator`, with the health and reflection services beside it.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use md_proto::orderbook as pb;
use md_proto::orderbook::aggregator_server::Aggregator;
use tonic::{Request, Response, Status};

use crate::auth::Token;
use crate::error::ServeError;
use crate::hub::{Ask, Hub};

/// The service: requests checked, then served from the hub.
#[derive(Debug, Clone)]
pub struct AggregatorService {
    hub: Arc<Hub>,
    token: Token,
}

impl AggregatorService {
    /// A service over `hub`, asking for `token` when one is set.
    pub fn new(hub: Arc<Hub>, token: Token) -> Self {
        Self { hub, token }
    }

    fn authorize<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let given = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
        self.token.check_header(given).map_err(|e| status(&e))
    }
}

/// The gRPC status of an error: NOT_FOUND for an unknown symbol, and so on.
pub fn status(error: &ServeError) -> Status {
    let message = error.to_string();
    match error {
        ServeError::NotFound { .. } | ServeError::NotRecorded { .. } => Status::not_found(message),
        ServeError::InvalidArgument(_) => Status::invalid_argument(message),
        ServeError::TooManyClients { .. } => Status::resource_exhausted(message),
        ServeError::Unauthenticated => Status::unauthenticated(message),
        _ => Status::unavailable(message),
    }
}

type SummaryStream = Pin<Box<dyn Stream<Item = Result<pb::Summary, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Aggregator for AggregatorService {
    type BookSummaryStream = SummaryStream;

    async fn book_summary(
        &self,
        request: Request<pb::Request>,
    ) -> Result<Response<Self::BookSummaryStream>, Status> {
        self.authorize(&request)?;
        let request = request.into_inner();
        let ask = Ask { symbol: request.symbol, depth: request.depth, venues: request.venues };
        let client = self.hub.open(&ask).await.map_err(|e| status(&e))?;
        let stream =
            futures::StreamExt::map(crate::stream::summaries(client, crate::convert::shared_summary), Ok);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn symbols(
        &self,
        request: Request<pb::SymbolsRequest>,
    ) -> Result<Response<pb::SymbolList>, Status> {
        self.authorize(&request)?;
        let symbols = self
            .hub
            .symbols()
            .await
            .into_iter()
            .map(|(symbol, venues)| pb::ListedSymbol {
                symbol: symbol.to_string(),
                exchanges: venues.iter().map(|v| v.as_str().to_owned()).collect(),
            })
            .collect();
        Ok(Response::new(pb::SymbolList { symbols }))
    }
}
