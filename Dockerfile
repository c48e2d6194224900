# ticketd: the ticketledger server. Built by docker compose (see docker-compose.yml).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/ticketd ./cmd/ticketd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ticketd /usr/local/bin/
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/ticketd"]
