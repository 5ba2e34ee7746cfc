"""Analytics: reports over bookings, aggregated in the database, bucketed in each branch's time zone."""
