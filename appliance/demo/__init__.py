"""The demo business: a Shanghai wellness, beauty and clinic chain seeded on first start (`appliance demo`)."""
