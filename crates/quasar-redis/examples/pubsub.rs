//! Pub/sub channels with quasar-net's `Broker`: in-process, or through Redis.
//!
//! ```sh
//! cargo run -p quasar-redis --example pubsub                          # in-process
//! cargo run -p quasar-redis --example pubsub -- redis://127.0.0.1:6379
//! cargo run -p quasar-redis --example pubsub -- redis://127.0.0.1:6410 # quasar serve resp
//! ```
//!
//! A channel subscriber and a pattern subscriber each print what they receive; the main
//! task publishes three messages, then drops the subscriptions (with Redis, the broker
//! unsubscribes its one connection).

use quasar_net::pubsub::Broker;
use quasar_redis::pubsub::RedisBroker;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let broker = match std::env::args().nth(1) {
        Some(url) => RedisBroker::open(&url).await?,
        None => Broker::in_process(),
    };
    println!("broker: {}", broker.backend_name());

    let mut sport = broker.subscribe("news.sport").await?;
    let mut news = broker.psubscribe("news.*").await?;

    for (channel, text) in [
        ("news.sport", "3-1"),
        ("news.weather", "rain"),
        ("other", "unheard"),
    ] {
        let receivers = broker.publish(channel, text).await?;
        println!("published {text:?} on {channel}: {receivers} receiver(s)");
    }

    let m = sport.recv().await.expect("broker open");
    println!("news.sport got {:?}", String::from_utf8_lossy(&m.payload));
    for _ in 0..2 {
        let m = news.recv().await.expect("broker open");
        println!(
            "news.* got {:?} from {}",
            String::from_utf8_lossy(&m.payload),
            m.channel
        );
    }
    drop((sport, news));
    println!(
        "subscribers left on news.sport: {}",
        broker.subscribers("news.sport")
    );
    Ok(())
}
